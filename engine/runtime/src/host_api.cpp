// The services table an architecture plugin calls: metadata and tensors of the checkpoint,
// compute ops on the engine's kernels and thread pool, the KV cache, and probes. Every entry
// catches exceptions (none may cross the C boundary) and records the first error on the model.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/kernels/attention.h"
#include "mnemo/kernels/matmul.h"
#include "mnemo/kernels/ops.h"
#include "mnemo/kernels/quant.h"
#include "model_impl.h"

namespace mnemo::rt {
namespace {

using Impl = Model::Impl;
Impl& impl(mnemo_host* h) { return *h->impl; }

TensorView view_of(const mnemo_tensor& t) {
  TensorView v;
  v.dtype = static_cast<DType>(t.dtype);
  v.ndim = t.ndim;
  for (int i = 0; i < t.ndim && i < kMaxDims; ++i) v.shape[static_cast<size_t>(i)] = t.shape[i];
  v.data = t.data;
  v.nbytes = t.nbytes;
  return v;
}

// Times one op when somebody listens, and turns exceptions into the model's error.
template <class F>
void run_op(mnemo_host* h, OpKind kind, F&& body) {
  Impl& I = impl(h);
  if (I.failed) return;  // the step already failed; skip the rest of its work
  const int64_t start = I.want_ops ? monotonic_ns() : 0;
  try {
    body(I);
  } catch (const std::exception& e) {
    I.fail(std::string(op_kind_name(kind)) + (I.layer >= 0 ? " in layer " + std::to_string(I.layer) : "") + ": " + e.what());
  }
  if (I.want_ops) {
    OpTiming t;
    t.step = I.step;
    t.kind = kind;
    t.layer = I.layer;
    t.thread = I.thread_id;
    t.start_ns = start;
    t.end_ns = monotonic_ns();
    I.sink->on_op(t);
  }
}

const nlohmann::json* lookup(Impl& I, const char* key) {
  const auto& meta = I.file->metadata();
  if (!meta.is_object()) return nullptr;
  if (auto it = meta.find(key); it != meta.end()) return &*it;
  // Nested config.json values ("rope_scaling.factor").
  const nlohmann::json* node = &meta;
  std::string k = key;
  size_t start = 0;
  while (start <= k.size()) {
    const size_t dot = std::min(k.find('.', start), k.size());
    if (!node->is_object()) return nullptr;
    auto it = node->find(k.substr(start, dot - start));
    if (it == node->end()) return nullptr;
    node = &*it;
    start = dot + 1;
  }
  return node;
}

void host_set_error(mnemo_host* h, const char* message) { impl(h).fail(message ? message : "unknown error"); }
const char* host_file_format(mnemo_host* h) {
  Impl& I = impl(h);
  I.strings.push_back(I.file->format());
  return I.strings.back().c_str();
}

int host_meta_int(mnemo_host* h, const char* key, int64_t* out) {
  const auto* v = lookup(impl(h), key);
  if (!v || v->is_null()) return 0;
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return -1;
    *out = static_cast<int64_t>(u);
    return 1;
  }
  if (!v->is_number_integer()) return -1;
  *out = v->get<int64_t>();
  return 1;
}

int host_meta_float(mnemo_host* h, const char* key, double* out) {
  const auto* v = lookup(impl(h), key);
  if (!v || v->is_null()) return 0;
  if (!v->is_number()) return -1;
  *out = v->get<double>();
  return 1;
}

int host_meta_bool(mnemo_host* h, const char* key, int* out) {
  const auto* v = lookup(impl(h), key);
  if (!v || v->is_null()) return 0;
  if (!v->is_boolean()) return -1;
  *out = v->get<bool>() ? 1 : 0;
  return 1;
}

int host_meta_string(mnemo_host* h, const char* key, const char** out) {
  Impl& I = impl(h);
  const auto* v = lookup(I, key);
  if (!v || v->is_null()) return 0;
  if (!v->is_string()) return -1;
  I.strings.push_back(v->get<std::string>());
  *out = I.strings.back().c_str();
  return 1;
}

int host_tensor(mnemo_host* h, const char* name, mnemo_tensor* out) {
  const io::TensorEntry* e = impl(h).file->find(name);
  if (!e) return 0;
  std::memset(out, 0, sizeof(*out));
  out->data = e->view.data;
  out->dtype = static_cast<uint32_t>(e->view.dtype);
  out->ndim = e->view.ndim;
  for (int i = 0; i < e->view.ndim; ++i) out->shape[i] = e->view.shape[static_cast<size_t>(i)];
  out->nbytes = e->view.nbytes;
  return 1;
}

float* host_alloc_weight(mnemo_host* h, int32_t ndim, const int64_t* shape, mnemo_tensor* out) {
  Impl& I = impl(h);
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  I.owned_weights.emplace_back(new float[static_cast<size_t>(n)]());
  float* data = I.owned_weights.back().get();
  std::memset(out, 0, sizeof(*out));
  out->data = data;
  out->dtype = static_cast<uint32_t>(DType::F32);
  out->ndim = ndim;
  for (int i = 0; i < ndim; ++i) out->shape[i] = shape[i];
  out->nbytes = static_cast<uint64_t>(n) * sizeof(float);
  return data;
}

mnemo_status host_dequantize(mnemo_host* h, const mnemo_tensor* t, float* out) {
  try {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; ++i) n *= t->shape[i];
    if (!kernels::can_dequantize(static_cast<DType>(t->dtype))) return MNEMO_ERR_UNSUPPORTED;
    kernels::dequantize_row(static_cast<DType>(t->dtype), t->data, out, n);
    return MNEMO_OK;
  } catch (const std::exception& e) {
    impl(h).fail(e.what());
    return MNEMO_ERR_INVALID;
  }
}

float* host_scratch(mnemo_host* h, uint64_t n) { return impl(h).scratch(n); }

void host_set_layer(mnemo_host* h, int32_t layer) { impl(h).layer = layer; }

mnemo_status host_embed(mnemo_host* h, const mnemo_tensor* table, const int32_t* ids, int64_t n, float* out) {
  run_op(h, OpKind::Embed, [&](Impl&) { kernels::embedding(view_of(*table), ids, n, out); });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

void host_matmul(mnemo_host* h, int32_t op, const float* x, int64_t m, int64_t k, const mnemo_tensor* w,
                 const mnemo_tensor* bias, float* y) {
  run_op(h, op == MNEMO_OP_LM_HEAD ? OpKind::LmHead : OpKind::Matmul, [&](Impl& I) {
    const TensorView wv = view_of(*w);
    if (wv.ndim != 2 || wv.shape[1] != k)
      throw Error("weight shape " + shape_string(wv) + " does not take inputs of " + std::to_string(k));
    kernels::matmul(I.pool, x, m, k, wv, bias ? I.as_f32(*bias) : nullptr, y);
  });
}

void host_matmul_many(mnemo_host* h, int32_t op, const float* x, int64_t m, int64_t k, int32_t n,
                      const mnemo_tensor* const* w, const mnemo_tensor* const* bias, float* const* y) {
  run_op(h, op == MNEMO_OP_LM_HEAD ? OpKind::LmHead : OpKind::Matmul, [&](Impl& I) {
    constexpr int32_t kMax = 8;
    if (n < 0 || n > kMax) throw Error("matmul_many takes 1 to 8 products, got " + std::to_string(n));
    kernels::MatmulTarget targets[kMax];
    for (int32_t i = 0; i < n; ++i) {
      targets[i].W = view_of(*w[i]);
      if (targets[i].W.ndim != 2 || targets[i].W.shape[1] != k)
        throw Error("weight shape " + shape_string(targets[i].W) + " does not take inputs of " + std::to_string(k));
      targets[i].bias = bias && bias[i] ? I.as_f32(*bias[i]) : nullptr;
      targets[i].y = y[i];
    }
    kernels::matmul_many(I.pool, x, m, k, targets, n);
  });
}

void host_norm(mnemo_host* h, int32_t kind, const float* x, const mnemo_tensor* w, const mnemo_tensor* b,
               int64_t rows, int64_t n, float eps, float* y) {
  run_op(h, OpKind::Norm, [&](Impl& I) {
    if (kind == MNEMO_NORM_RMS)
      kernels::rms_norm(I.pool, x, I.as_f32(*w), rows, n, eps, y);
    else
      kernels::layer_norm(I.pool, x, I.as_f32(*w), b ? I.as_f32(*b) : nullptr, rows, n, eps, y);
  });
}

void host_rope(mnemo_host* h, float* x, int64_t t, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos0,
               float theta, int32_t mode) {
  run_op(h, OpKind::Rope, [&](Impl& I) {
    I.positions.resize(static_cast<size_t>(t));
    for (int64_t i = 0; i < t; ++i) I.positions[static_cast<size_t>(i)] = static_cast<int32_t>(pos0 + i);
    kernels::rope(I.pool, x, t, n_heads, head_dim, n_rot, I.positions.data(), theta,
                  mode == MNEMO_ROPE_NEOX ? kernels::RopeMode::NeoX : kernels::RopeMode::Interleaved);
  });
}

kernels::Activation activation_of(int32_t act) {
  switch (act) {
    case MNEMO_ACT_GELU_TANH: return kernels::Activation::GeluTanh;
    case MNEMO_ACT_GELU_ERF: return kernels::Activation::GeluErf;
    case MNEMO_ACT_SILU: return kernels::Activation::Silu;
    case MNEMO_ACT_RELU: return kernels::Activation::Relu;
    default: throw Error("unknown activation " + std::to_string(act));
  }
}

void host_activate(mnemo_host* h, int32_t act, float* x, int64_t n) {
  run_op(h, OpKind::Activation, [&](Impl& I) { kernels::activate(I.pool, activation_of(act), x, n); });
}

void host_gated(mnemo_host* h, int32_t act, const float* gate, const float* up, float* out, int64_t n) {
  run_op(h, OpKind::Activation, [&](Impl& I) { kernels::gated(I.pool, activation_of(act), gate, up, out, n); });
}

void host_add(mnemo_host* h, float* y, const float* x, int64_t n) {
  run_op(h, OpKind::Add, [&](Impl& I) { kernels::add(I.pool, y, x, n); });
}

void host_add_bias(mnemo_host* h, float* y, const mnemo_tensor* bias, int64_t rows, int64_t n) {
  run_op(h, OpKind::Add, [&](Impl& I) {
    const float* b = I.as_f32(*bias);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < n; ++i) y[r * n + i] += b[i];
  });
}

mnemo_status host_attention(mnemo_host* h, int32_t layer, const mnemo_attention_desc* desc, const float* q,
                            const float* k, const float* v, int64_t t, int64_t pos0, float* out) {
  run_op(h, OpKind::Attention, [&](Impl& I) {
    if (layer < 0 || layer >= I.info.n_layers) throw Error("layer " + std::to_string(layer) + " out of range");
    if (desc->n_kv_heads != I.info.n_kv_heads || desc->head_dim != I.info.head_dim)
      throw Error("attention shape differs from the model's KV cache shape");
    I.kv.append(layer, k, v, pos0, t);

    kernels::AttentionArgs a;
    a.q = q;
    a.k = I.kv.keys(layer);
    a.v = I.kv.values(layer);
    a.kv_head_stride = I.kv.head_stride();
    a.T_q = t;
    a.T_k = I.kv.size(layer);
    a.n_heads = desc->n_heads;
    a.n_kv_heads = desc->n_kv_heads;
    a.head_dim = desc->head_dim;
    a.q_pos0 = pos0;
    a.mask = static_cast<kernels::MaskKind>(desc->mask);
    a.window = desc->window;
    a.scale = desc->scale;
    a.out = out;
    if (I.want_attention) {
      const size_t rows = static_cast<size_t>(desc->n_heads * t);
      const bool stats = I.sink->wants_attention_stats();
      const bool pooled = pos0 % 4 == 0 && I.sink->wants_pooled_attention(pos0, t, a.T_k);
      const size_t cells = pooled ? static_cast<size_t>(desc->n_heads * ((t + 3) / 4) * ((a.T_k + 3) / 4)) : 0;
      std::vector<float>& buffer = I.attention_probe_buffer;
      buffer.resize(rows * (stats ? 5 : 1) + 2 * cells);
      float* next = buffer.data();
      auto take = [&](size_t n) { return std::exchange(next, next + n); };
      a.lse = take(rows);
      if (stats) a.row_stats = {take(rows), take(rows), take(rows), take(rows)};
      if (pooled) a.pooled = {take(cells), take(cells)};
    }
    kernels::attention(I.pool, a);

    if (I.want_attention) {
      AttentionProbe p;
      p.step = I.step;
      p.layer = layer;
      p.q_pos0 = pos0;
      p.n_q = t;
      p.n_k = a.T_k;
      p.n_heads = desc->n_heads;
      p.n_kv_heads = desc->n_kv_heads;
      p.head_dim = desc->head_dim;
      p.mask = a.mask;
      p.window = a.window;
      p.scale = a.scale;
      p.q = q;
      p.k = a.k;
      p.kv_head_stride = a.kv_head_stride;
      p.lse = a.lse;
      p.row_stats = a.row_stats;
      p.pooled = a.pooled;
      I.sink->on_attention(p);
    }
    if (I.want_kv) {
      KvProbe p;
      p.step = I.step;
      p.layer = layer;
      p.n_resident = I.kv.size(layer);
      p.capacity = I.kv.capacity();
      p.bytes_used = I.kv.bytes_per_position() * static_cast<uint64_t>(p.n_resident);
      p.bytes_reserved = I.kv.bytes_reserved_per_layer();
      p.resident_ranges.emplace_back(0, p.n_resident);
      I.sink->on_kv(p);
    }
  });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

void host_probe_residual(mnemo_host* h, int32_t layer, const float* x, int64_t t, int64_t d, int64_t pos0) {
  Impl& I = impl(h);
  if (!I.want_residual || I.failed) return;
  ResidualProbe p;
  p.step = I.step;
  p.layer = layer;
  p.pos0 = pos0;
  p.n = t;
  p.d = d;
  p.x = x;
  I.sink->on_residual(p);
}

}  // namespace

float* Model::Impl::scratch(uint64_t n) {
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  if (arena.capacity() - std::min(arena.capacity(), arena.used()) >= bytes + 64)
    return arena.allocate_array<float>(static_cast<size_t>(n));
  // Too big for this step's arena: serve it from the heap now; the arena grows before the next step.
  scratch_overflow.emplace_back(new float[static_cast<size_t>(n)]);
  scratch_overflow_bytes += bytes + 64;
  return scratch_overflow.back().get();
}

const float* Model::Impl::as_f32(const mnemo_tensor& t) {
  if (t.dtype == static_cast<uint32_t>(DType::F32)) return static_cast<const float*>(t.data);
  auto it = f32_copies.find(t.data);
  if (it != f32_copies.end()) return it->second.get();
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
  auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
  kernels::dequantize_row(static_cast<DType>(t.dtype), t.data, buf.get(), n);
  return f32_copies.emplace(t.data, std::move(buf)).first->second.get();
}

void fill_host_api(mnemo_host_api& api) {
  api = mnemo_host_api{};
  api.abi_major = MNEMO_PLUGIN_ABI_MAJOR;
  api.abi_minor = MNEMO_PLUGIN_ABI_MINOR;
  api.struct_size = sizeof(mnemo_host_api);
  api.set_error = host_set_error;
  api.file_format = host_file_format;
  api.meta_int = host_meta_int;
  api.meta_float = host_meta_float;
  api.meta_bool = host_meta_bool;
  api.meta_string = host_meta_string;
  api.tensor = host_tensor;
  api.alloc_weight = host_alloc_weight;
  api.dequantize = host_dequantize;
  api.scratch = host_scratch;
  api.set_layer = host_set_layer;
  api.embed = host_embed;
  api.matmul = host_matmul;
  api.norm = host_norm;
  api.rope = host_rope;
  api.activate = host_activate;
  api.gated = host_gated;
  api.add = host_add;
  api.add_bias = host_add_bias;
  api.attention = host_attention;
  api.probe_residual = host_probe_residual;
  api.matmul_many = host_matmul_many;
}

}  // namespace mnemo::rt

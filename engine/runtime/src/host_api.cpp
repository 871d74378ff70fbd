// The services table an architecture plugin calls: metadata and tensors of the checkpoint,
// activation buffers and compute ops on the model's backend, token mixers over the memory each
// layer keeps, and probes. Every entry catches exceptions (none may cross the C boundary) and
// records the first error on the model.
#include <algorithm>
#include <cstring>
#include <span>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/kernels/quant.h"
#include "mnemo/runtime/kinds.h"
#include "model_impl.h"

namespace mnemo::rt {
namespace {

using Impl = Model::Impl;
using backend::View;
Impl& impl(mnemo_host* h) { return *h->impl; }

// The op kinds of the services' own ops, resolved once.
struct OpIds {
  int32_t embed = op_kinds().intern("embed"), norm = op_kinds().intern("norm"), matmul = op_kinds().intern("matmul");
  int32_t rope = op_kinds().intern("rope"), attention = op_kinds().intern("attention");
  int32_t activation = op_kinds().intern("activation"), add = op_kinds().intern("add"), copy = op_kinds().intern("copy");
  int32_t linear_mixer = op_kinds().intern("linear_mixer"), conv = op_kinds().intern("causal_conv1d");
  int32_t ssm_scan = op_kinds().intern("ssm_scan");
};
const OpIds& ops() {
  static const OpIds ids;
  return ids;
}

TensorView view_of(const mnemo_tensor& t) {
  TensorView v;
  v.dtype = static_cast<DType>(t.dtype);
  v.ndim = t.ndim;
  for (int i = 0; i < t.ndim && i < kMaxDims; ++i) v.shape[static_cast<size_t>(i)] = t.shape[i];
  v.data = t.data;
  v.nbytes = t.nbytes;
  return v;
}

View view(const mnemo_view& v) { return Impl::from_abi(v); }

// Times one op when somebody listens, and turns exceptions into the model's error.
template <class F>
void run_op(mnemo_host* h, int32_t kind, F&& body) {
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
    t.kind_name = op_kind_name(kind);
    t.layer = I.layer;
    t.thread = I.thread_id;
    t.start_ns = start;
    t.end_ns = monotonic_ns();
    I.sink->on_op(t);
  }
}

// The kind an op is timed under: the plugin's registered label, or the op's own.
int32_t label(int32_t op, int32_t own) { return op >= 0 ? op : own; }

const nlohmann::json* lookup(Impl& I, const char* key) {
  const auto& meta = I.file->metadata();
  if (!meta.is_object()) return nullptr;
  if (auto it = meta.find(key); it != meta.end()) return &*it;
  // Nested config.json values ("rope_scaling.factor"), and elements of lists by index
  // ("attn.layers.0": fla's hybrids list their attention layers).
  const nlohmann::json* node = &meta;
  std::string k = key;
  size_t start = 0;
  while (start <= k.size()) {
    const size_t dot = std::min(k.find('.', start), k.size());
    const std::string part = k.substr(start, dot - start);
    if (node->is_array()) {
      if (part.empty() || part.size() > 9 || part.find_first_not_of("0123456789") != std::string::npos) return nullptr;
      const size_t index = std::stoul(part);
      if (index >= node->size()) return nullptr;
      node = &(*node)[index];
    } else {
      if (!node->is_object()) return nullptr;
      auto it = node->find(part);
      if (it == node->end()) return nullptr;
      node = &*it;
    }
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

int32_t host_op_kind(mnemo_host* h, const char* name) {
  try {
    return op_kinds().intern(name ? name : "");
  } catch (const std::exception& e) {
    impl(h).fail(e.what());
    return -1;
  }
}

mnemo_view host_scratch(mnemo_host* h, int64_t rows, int64_t cols) {
  Impl& I = impl(h);
  try {
    if (rows < 0 || cols < 0 || (cols > 0 && rows > (int64_t{1} << 40) / cols))
      throw Error("scratch of " + std::to_string(rows) + " × " + std::to_string(cols) + " elements");
    return Impl::to_abi({I.backend->scratch(rows * cols), 0, rows, cols, cols});
  } catch (const std::exception& e) {
    I.fail(std::string("scratch: ") + e.what());
    return mnemo_view{};
  }
}

mnemo_status host_write(mnemo_host* h, mnemo_view dst, const float* src) {
  run_op(h, ops().copy, [&](Impl& I) { I.backend->write(view(dst), src); });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

mnemo_status host_read(mnemo_host* h, mnemo_view src, float* dst) {
  run_op(h, ops().copy, [&](Impl& I) { I.backend->read(view(src), dst); });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

void host_set_layer(mnemo_host* h, int32_t layer) { impl(h).layer = layer; }

mnemo_status host_embed(mnemo_host* h, const mnemo_tensor* table, const int32_t* ids, mnemo_view out) {
  run_op(h, ops().embed, [&](Impl& I) { I.backend->embed(view_of(*table), ids, view(out)); });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

void host_matmul_many(mnemo_host* h, int32_t op, mnemo_view x, int32_t n, const mnemo_tensor* const* w,
                      const mnemo_tensor* const* bias, const mnemo_view* y) {
  run_op(h, label(op, ops().matmul), [&](Impl& I) {
    constexpr int32_t kMax = 8;
    if (n < 1 || n > kMax) throw Error("matmul_many takes 1 to 8 products, got " + std::to_string(n));
    backend::Backend::MatmulTarget targets[kMax];
    TensorView biases[kMax];
    for (int32_t i = 0; i < n; ++i) {
      targets[i].w = view_of(*w[i]);
      if (bias && bias[i]) {
        biases[i] = view_of(*bias[i]);
        targets[i].bias = &biases[i];
      }
      targets[i].y = view(y[i]);
    }
    I.backend->matmul(view(x), targets, n);
  });
}

void host_matmul(mnemo_host* h, int32_t op, mnemo_view x, const mnemo_tensor* w, const mnemo_tensor* bias, mnemo_view y) {
  host_matmul_many(h, op, x, 1, &w, &bias, &y);
}

void host_norm(mnemo_host* h, int32_t kind, mnemo_view x, const mnemo_tensor* w, const mnemo_tensor* b, float eps,
               mnemo_view y) {
  run_op(h, ops().norm, [&](Impl& I) {
    const TensorView bias = b ? view_of(*b) : TensorView{};
    I.backend->norm(kind == MNEMO_NORM_RMS ? backend::NormKind::Rms : backend::NormKind::Layer, view(x), view_of(*w),
                    b ? &bias : nullptr, eps, view(y));
  });
}

void host_rope(mnemo_host* h, mnemo_view x, int32_t n_heads, int32_t head_dim, int32_t n_rot, const int32_t* positions,
               float theta, int32_t mode) {
  run_op(h, ops().rope, [&](Impl& I) {
    if (!positions && x.rows != static_cast<int64_t>(I.positions.size()))
      throw Error("rope over " + std::to_string(x.rows) + " rows without positions; the step has " +
                  std::to_string(I.positions.size()) + " rows");
    I.backend->rope(view(x), n_heads, head_dim, n_rot, positions ? positions : I.positions.data(), theta,
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

void host_activate(mnemo_host* h, int32_t act, mnemo_view x) {
  run_op(h, ops().activation, [&](Impl& I) { I.backend->activate(activation_of(act), view(x)); });
}

void host_gated(mnemo_host* h, int32_t act, mnemo_view gate, mnemo_view up, mnemo_view out) {
  run_op(h, ops().activation, [&](Impl& I) { I.backend->gated(activation_of(act), view(gate), view(up), view(out)); });
}

void host_add(mnemo_host* h, mnemo_view y, mnemo_view x) {
  run_op(h, ops().add, [&](Impl& I) { I.backend->add(view(y), view(x)); });
}

void host_add_bias(mnemo_host* h, mnemo_view y, const mnemo_tensor* bias) {
  run_op(h, ops().add, [&](Impl& I) { I.backend->add_bias(view(y), view_of(*bias)); });
}

void host_copy(mnemo_host* h, mnemo_view dst, mnemo_view src) {
  run_op(h, ops().copy, [&](Impl& I) { I.backend->copy(view(dst), view(src)); });
}

static_assert(int{kRowToken} == MNEMO_ROW_TOKEN && int{kRowMemoryRead} == MNEMO_ROW_MEMORY_READ &&
                  int{kRowMemoryWrite} == MNEMO_ROW_MEMORY_WRITE,
              "rt::RowRole mirrors mnemo_row_role");

// The segment of the current step of a segmented model, else -1.
int32_t current_segment(const Impl& I) {
  return I.segment_length > 0 ? static_cast<int32_t>(I.position / I.segment_length) : -1;
}

// The rows of the ops that follow (ABI 2.2), checked: what the kernels and probes index with must
// hold for every row.
mnemo_status host_set_rows(mnemo_host* h, const mnemo_rows* rows) {
  Impl& I = impl(h);
  if (I.failed) return MNEMO_ERR_INVALID;
  try {
    if (!rows) {
      I.rows_are_tokens();
      return MNEMO_OK;
    }
    if (rows->struct_size < sizeof(mnemo_rows)) throw Error("set_rows: the rows' struct is smaller than ABI 2.2's");
    if (rows->n <= 0 || !rows->positions || !rows->roles || !rows->ids)
      throw Error("set_rows: " + std::to_string(rows->n) + " rows, or positions, roles or ids missing");
    const size_t n = static_cast<size_t>(rows->n);
    I.positions.assign(rows->positions, rows->positions + n);
    I.probe_positions.assign(I.positions.begin(), I.positions.end());
    I.row_roles.resize(n);
    I.row_ids.assign(rows->ids, rows->ids + n);
    for (size_t i = 0; i < n; ++i) {
      const int32_t role = rows->roles[i];
      if (role != MNEMO_ROW_TOKEN && role != MNEMO_ROW_MEMORY_READ && role != MNEMO_ROW_MEMORY_WRITE)
        throw Error("set_rows: row " + std::to_string(i) + " has role " + std::to_string(role) + ", not a mnemo_row_role");
      if (I.positions[i] < 0 || I.row_ids[i] < 0)
        throw Error("set_rows: row " + std::to_string(i) + " has a negative position or id");
      I.row_roles[i] = static_cast<uint8_t>(role);
    }
    return MNEMO_OK;
  } catch (const std::exception& e) {
    I.fail(e.what());
    return MNEMO_ERR_INVALID;
  }
}

// The layer's KV occupancy after this step.
void publish_kv(Impl& I, int32_t layer, const KvMemory& kv) {
  KvProbe p;
  p.step = I.step;
  p.layer = layer;
  p.n_resident = kv.n_resident();
  p.capacity = kv.capacity();
  p.bytes_used = kv.bytes_per_slot() * static_cast<uint64_t>(p.n_resident);
  p.bytes_reserved = kv.bytes_reserved();
  p.resident_ranges = kv.resident_ranges();
  I.sink->on_kv(p);
}

mnemo_status host_attention(mnemo_host* h, int32_t layer, mnemo_view q, mnemo_view k, mnemo_view v, mnemo_view out) {
  run_op(h, ops().attention, [&](Impl& I) {
    if (layer < 0 || layer >= I.info.n_layers) throw Error("layer " + std::to_string(layer) + " out of range");
    const LayerDesc& L = I.layers[static_cast<size_t>(layer)];
    KvMemory* kv = I.memory.kv(layer);
    if (L.mixer != "softmax" || !kv)
      throw Error("attention runs layers declared 'softmax' with a 'kv_cache'; layer " + std::to_string(layer) + " is '" +
                  L.mixer + "' with '" + L.memory + "'");
    if (L.key_dim != L.value_dim) throw Error("softmax attention with keys and values of different widths is not built");
    if (k.rows != static_cast<int64_t>(I.positions.size()))
      throw Error("attention over " + std::to_string(k.rows) + " keys; the step has " + std::to_string(I.positions.size()) + " rows");
    kv->append(view(k), view(v), I.positions.data(), I.row_roles.empty() ? nullptr : I.row_roles.data(),
               I.row_ids.empty() ? nullptr : I.row_ids.data());
    if (!kv->in_position_order())
      throw Error("keys out of position order need the attention kernel's per-key mask, which is not built yet");

    backend::AttentionOp a;
    a.q = view(q);
    a.out = view(out);
    a.keys = kv->keys();
    a.values = kv->values();
    a.kv_head_stride = kv->key_head_stride();
    a.n_keys = kv->n_slots();
    a.n_heads = L.n_heads;
    a.n_kv_heads = L.n_kv_heads;
    a.head_dim = L.key_dim;
    a.q_pos0 = I.positions.front();
    a.mask = L.mask;
    a.scale = L.scale;
    const int64_t t = a.q.rows, pos0 = a.q_pos0;
    if (I.want_mixer) {
      const size_t rows = static_cast<size_t>(L.n_heads * t);
      const bool stats = I.sink->wants_attention_stats();
      const bool pooled = pos0 % 4 == 0 && I.sink->wants_pooled_attention(pos0, t, a.n_keys);
      const size_t cells = pooled ? static_cast<size_t>(L.n_heads * ((t + 3) / 4) * ((a.n_keys + 3) / 4)) : 0;
      std::vector<float>& buffer = I.mixer_probe_buffer;
      buffer.resize(rows * (stats ? 5 : 1) + 2 * cells);
      float* next = buffer.data();
      auto take = [&](size_t n) { return std::exchange(next, next + n); };
      a.lse = take(rows);
      if (stats) a.row_stats = {take(rows), take(rows), take(rows), take(rows)};
      if (pooled) a.pooled = {take(cells), take(cells)};
    }
    const float* q_read = I.backend->attention(a);

    if (I.want_mixer) {
      const float* keys = I.backend->host_address(*kv->keys());
      if (!q_read || !keys) throw Error("backend '" + std::string(I.backend->name()) + "' keeps attention off the host; its probe needs a read-back, not built yet");
      const int64_t hd = L.key_dim;
      const FactorSpan factors[] = {
          {"q", q_read, L.n_heads, t, hd, hd, int64_t{L.n_heads} * hd},
          {"k", keys, L.n_kv_heads, a.n_keys, hd, kv->key_head_stride(), hd},
          {"lse", a.lse, L.n_heads, t, 1, t, 1},
      };
      MixerProbe p;
      p.step = I.step;
      p.layer = layer;
      p.mixer = "softmax";
      p.mixer_id = L.mixer_id;
      p.n_heads = L.n_heads;
      p.n_kv_heads = L.n_kv_heads;
      p.n_q = t;
      p.n_k = a.n_keys;
      p.q_pos0 = pos0;
      p.query_positions = I.probe_positions;
      p.key_positions = kv->slot_positions();
      p.key_resident = kv->slot_resident();
      p.query_roles = I.row_roles;
      p.query_ids = I.row_ids;
      // A model that names its rows names every key too: within a segment a token's place is
      // not its position in the sequence, even while its keys are all tokens (ARMT's pieces).
      if (!kv->only_tokens() || !I.row_roles.empty()) p.key_roles = kv->slot_roles(), p.key_ids = kv->slot_ids();
      p.segment = current_segment(I);
      p.mask = L.mask;
      p.scale = L.scale;
      p.factors = factors;
      p.row_stats = a.row_stats;
      p.pooled = a.pooled;
      I.sink->on_mixer(p);
    }
    if (I.want_kv) publish_kv(I, layer, *kv);
  });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

// The layer's recurrent state, checked against the mixer the op runs.
RecurrentState& recurrent_memory(Impl& I, int32_t layer, std::initializer_list<std::string_view> mixers, const char* op) {
  if (layer < 0 || layer >= I.info.n_layers) throw Error("layer " + std::to_string(layer) + " out of range");
  const LayerDesc& L = I.layers[static_cast<size_t>(layer)];
  RecurrentState* rs = I.memory.state(layer);
  const bool fits = std::find(mixers.begin(), mixers.end(), std::string_view(L.mixer)) != mixers.end();
  if (!fits || !rs)
    throw Error(std::string(op) + " does not run layer " + std::to_string(layer) + ", declared '" + L.mixer + "' with '" +
                L.memory + "'");
  return *rs;
}

// A mixer probe of a recurrent layer: query and key positions are this step's tokens (the state
// carries the past; the reader joins steps), factors as named in docs/ARCHITECTURE.md.
// scale multiplies every output (the linear mixers' q·k scale; 1 for the SSMs).
void publish_recurrent_mixer(Impl& I, int32_t layer, const LayerDesc& L, int64_t t, float scale,
                             std::span<const FactorSpan> factors) {
  MixerProbe p;
  p.step = I.step;
  p.layer = layer;
  p.mixer = mixer_kinds().name(L.mixer_id);
  p.mixer_id = L.mixer_id;
  p.n_heads = L.n_heads;
  p.n_kv_heads = L.n_kv_heads;
  p.n_q = t;
  p.n_k = t;
  p.q_pos0 = I.positions.front();
  p.query_positions = I.probe_positions;
  p.key_positions = I.probe_positions;
  p.query_roles = p.key_roles = I.row_roles;
  p.query_ids = p.key_ids = I.row_ids;
  p.segment = current_segment(I);
  p.scale = scale;
  p.factors = factors;
  I.sink->on_mixer(p);
}

mnemo_status host_linear_mixer(mnemo_host* h, int32_t layer, const mnemo_linear_mixer_args* args) {
  run_op(h, ops().linear_mixer, [&](Impl& I) {
    if (!args || args->struct_size < sizeof(mnemo_linear_mixer_args))
      throw Error("linear_mixer's arguments are smaller than ABI 2.1's");
    RecurrentState& rs = recurrent_memory(I, layer, {"linear", "retnet", "gla", "delta", "gated_delta"}, "linear_mixer");
    const LayerDesc& L = I.layers[static_cast<size_t>(layer)];
    if (rs.rows() != L.key_dim || rs.cols() != L.value_dim)
      throw Error("a linear mixer's state is [heads][key_dim][value_dim]; layer " + std::to_string(layer) + " declares [" +
                  std::to_string(rs.rows()) + "][" + std::to_string(rs.cols()) + "]");
    const mnemo_linear_mixer_args& a = *args;
    TensorView A_log, dt_bias, decay;
    backend::LinearMixerOp op;
    op.variant = L.mixer;
    op.q = view(a.q), op.k = view(a.k), op.v = view(a.v), op.out = view(a.out);
    op.gate = view(a.gate), op.beta = view(a.beta);
    switch (a.feature_map) {
      case MNEMO_FEATURE_IDENTITY: op.feature_map = backend::FeatureMap::Identity; break;
      case MNEMO_FEATURE_ELU_PLUS_ONE: op.feature_map = backend::FeatureMap::EluPlusOne; break;
      case MNEMO_FEATURE_SILU_L2: op.feature_map = backend::FeatureMap::SiluL2; break;
      case MNEMO_FEATURE_L2: op.feature_map = backend::FeatureMap::L2; break;
      default: throw Error("unknown feature map " + std::to_string(a.feature_map));
    }
    op.scale = a.scale, op.gate_normalizer = a.gate_normalizer;
    op.A_log = a.A_log ? &(A_log = view_of(*a.A_log)) : nullptr;
    op.dt_bias = a.dt_bias ? &(dt_bias = view_of(*a.dt_bias)) : nullptr;
    op.head_log_decay = a.head_log_decay ? &(decay = view_of(*a.head_log_decay)) : nullptr;
    op.state = rs.state();
    op.n_heads = L.n_heads, op.dk = L.key_dim, op.dv = L.value_dim;
    // A prefill runs the chunked form; one token at a time is the recurrence itself.
    op.chunked = op.q.rows > 1;
    const backend::LinearMixerFactors f = I.backend->linear_mixer(op);
    if (!I.want_mixer) return;
    if (!f.q || !f.k) throw Error("backend '" + std::string(I.backend->name()) + "' keeps the mixer's factors off the host");
    const int64_t t = op.q.rows, H = L.n_heads, dk = L.key_dim;
    std::vector<FactorSpan> factors = {{"q", f.q, H, t, dk, dk, H * dk}, {"k", f.k, H, t, dk, dk, H * dk}};
    if (L.mixer == "gla") factors.push_back({"g", f.log_gate, H, t, dk, dk, H * dk});
    if (L.mixer == "gated_delta") factors.push_back({"g", f.log_gate, H, t, 1, 1, H});
    // RetNet's log γ_h, once per head (the plugin's fp32 weight).
    if (L.mixer == "retnet" && decay.dtype == DType::F32) factors.push_back({"g", decay.f32(), H, 1, 1, 1, 1});
    if (f.beta) factors.push_back({"beta", f.beta, H, t, 1, 1, H});
    publish_recurrent_mixer(I, layer, L, t, op.scale, factors);
  });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

mnemo_status host_causal_conv1d(mnemo_host* h, int32_t layer, mnemo_view x, const mnemo_tensor* weight,
                                const mnemo_tensor* bias, int32_t silu, mnemo_view out) {
  run_op(h, ops().conv, [&](Impl& I) {
    RecurrentState& rs = recurrent_memory(I, layer, {"mamba1", "mamba2", "delta", "gated_delta", "linear", "retnet", "gla"},
                                          "causal_conv1d");
    if (!rs.conv().buffer) throw Error("layer " + std::to_string(layer) + " declares no convolution");
    if (!weight) throw Error("causal_conv1d needs a weight");
    TensorView b;
    backend::ConvOp op;
    op.x = view(x), op.out = view(out);
    op.weight = view_of(*weight);
    op.bias = bias ? &(b = view_of(*bias)) : nullptr;
    op.silu = silu != 0;
    op.window = rs.conv();
    I.backend->causal_conv1d(op);
  });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

mnemo_status host_ssm_scan(mnemo_host* h, int32_t layer, const mnemo_ssm_args* args) {
  run_op(h, ops().ssm_scan, [&](Impl& I) {
    if (!args || args->struct_size < sizeof(mnemo_ssm_args)) throw Error("ssm_scan's arguments are smaller than ABI 2.1's");
    RecurrentState& rs = recurrent_memory(I, layer, {"mamba1", "mamba2"}, "ssm_scan");
    const LayerDesc& L = I.layers[static_cast<size_t>(layer)];
    const mnemo_ssm_args& a = *args;
    const bool m1 = L.mixer == "mamba1";
    TensorView dt_bias, A_log, D;
    backend::SsmOp op;
    op.variant = L.mixer;
    op.x = view(a.x), op.dt = view(a.dt), op.B = view(a.B), op.C = view(a.C), op.z = view(a.z), op.out = view(a.out);
    op.dt_bias = a.dt_bias ? &(dt_bias = view_of(*a.dt_bias)) : nullptr;
    op.A_log = a.A_log ? &(A_log = view_of(*a.A_log)) : nullptr;
    op.D = a.D ? &(D = view_of(*a.D)) : nullptr;
    // mamba1: the state is [d_inner][d_state], declared as heads × state_rows; mamba2: [H][P][N].
    op.channels = m1 ? int64_t{rs.heads()} * rs.rows() : L.n_heads;
    op.head_dim = m1 ? 1 : rs.rows();
    op.d_state = rs.cols();
    op.n_groups = a.n_groups > 0 ? a.n_groups : 1;
    op.state = rs.state();
    op.chunked = op.x.rows > 1;
    const backend::SsmFactors f = I.backend->ssm_scan(op);
    if (!I.want_mixer) return;
    const int64_t t = op.x.rows, GN = op.n_groups * op.d_state;
    std::vector<FactorSpan> factors;
    if (m1) {
      const int64_t Dn = op.channels;
      factors = {{"dt", f.dt, 1, t, Dn, 0, Dn}, {"A", f.A, 1, Dn, op.d_state, 0, op.d_state}};
    } else {
      const int64_t H = op.channels;
      factors = {{"dt", f.dt, H, t, 1, 1, H}, {"A", f.A, H, 1, 1, 1, 1}};
    }
    factors.push_back({"B", f.B, 1, t, GN, 0, GN});
    factors.push_back({"C", f.C, 1, t, GN, 0, GN});
    publish_recurrent_mixer(I, layer, L, t, 1.f, factors);
  });
  return impl(h).failed ? MNEMO_ERR_INVALID : MNEMO_OK;
}

mnemo_view host_memory_view(mnemo_host* h, int32_t layer, const char* part) {
  Impl& I = impl(h);
  if (layer < 0 || layer >= I.memory.n_layers() || !part) return mnemo_view{};
  const RecurrentState* rs = I.memory.state(layer);
  if (!rs) return mnemo_view{};
  const std::string_view name = part;
  if (name == "state") return Impl::to_abi(rs->state());
  if (name == "conv") return Impl::to_abi(rs->conv());
  return mnemo_view{};
}

void host_probe_residual(mnemo_host* h, int32_t layer, mnemo_view xv) {
  Impl& I = impl(h);
  if (!I.want_residual || I.failed) return;
  try {
    const View x = view(xv);
    backend::check_view(x, "residual probe");
    std::vector<float> copy;
    const float* data = I.backend->host_address(*x.buffer);
    if (data && x.contiguous()) {
      data += x.offset;
    } else {
      copy.resize(static_cast<size_t>(x.elements()));
      I.backend->read(x, copy.data());
      data = copy.data();
    }
    ResidualProbe p;
    p.step = I.step;
    p.layer = layer;
    p.pos0 = I.token_positions.empty() ? I.position : I.token_positions.front();  // the forward's tokens, whatever rows are set
    p.n = x.rows;
    p.d = x.cols;
    p.x = data;
    I.sink->on_residual(p);
  } catch (const std::exception& e) {
    I.fail(std::string("residual probe: ") + e.what());
  }
}

void host_probe_memory(mnemo_host* h, int32_t role, mnemo_view xv) {
  Impl& I = impl(h);
  if (!I.want_memory || I.failed) return;
  try {
    if (role != MNEMO_ROW_MEMORY_READ && role != MNEMO_ROW_MEMORY_WRITE)
      throw Error("role " + std::to_string(role) + " is not a memory role");
    const View x = view(xv);
    backend::check_view(x, "memory probe");
    std::vector<float> copy(static_cast<size_t>(x.elements()));
    I.backend->read(x, copy.data());
    MemoryProbe p;
    p.step = I.step;
    p.segment = current_segment(I);
    p.role = role;
    p.layer = I.layer;
    p.n_slots = x.rows;
    p.d = x.cols;
    p.x = copy.data();
    I.sink->on_memory(p);
  } catch (const std::exception& e) {
    I.fail(std::string("memory probe: ") + e.what());
  }
}

}  // namespace

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
  api.op_kind = host_op_kind;
  api.scratch = host_scratch;
  api.write = host_write;
  api.read = host_read;
  api.set_layer = host_set_layer;
  api.embed = host_embed;
  api.matmul = host_matmul;
  api.matmul_many = host_matmul_many;
  api.norm = host_norm;
  api.rope = host_rope;
  api.activate = host_activate;
  api.gated = host_gated;
  api.add = host_add;
  api.add_bias = host_add_bias;
  api.copy = host_copy;
  api.attention = host_attention;
  api.memory_view = host_memory_view;
  api.probe_residual = host_probe_residual;
  api.linear_mixer = host_linear_mixer;
  api.causal_conv1d = host_causal_conv1d;
  api.ssm_scan = host_ssm_scan;
  api.set_rows = host_set_rows;
  api.probe_memory = host_probe_memory;
}

}  // namespace mnemo::rt

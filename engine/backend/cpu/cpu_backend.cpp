// The CPU backend's ops: the engine's kernels on host views. Kernels take contiguous rows; a
// strided view (a column slice, e.g. the Q part of a fused QKV row) is served row by row where
// that is cheap, or through a contiguous scratch copy.
#include <array>
#include <cstring>
#include <string>

#include "cpu_backend_impl.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/matmul.h"
#include "mnemo/kernels/quant.h"

namespace mnemo::backend {
namespace {

// The ops this backend runs, the recurrent families' mixers included (cpu_mixers.cpp).
constexpr std::array<std::string_view, 12> kOps = {"embed",     "matmul",       "norm",         "rope",
                                                   "activation", "add",          "copy",         "attention",
                                                   "lm_head",    "linear_mixer", "causal_conv1d", "ssm_scan"};

}  // namespace

bool CpuBackend::supports_op(std::string_view op, DType weights) const {
  if (op == "embed") return kernels::can_dequantize(weights);
  if (op == "matmul" || op == "lm_head") return kernels::matmul_supports(weights);
  for (std::string_view known : kOps)
    if (op == known) return weights == DType::F32;
  return false;
}

const float* CpuBackend::as_f32(const TensorView& t) {
  if (t.dtype == DType::F32) return t.f32();
  auto it = f32_copies_.find(t.data);
  if (it != f32_copies_.end()) return it->second.get();
  const int64_t n = t.numel();
  auto buf = std::make_unique<float[]>(static_cast<size_t>(n));
  kernels::dequantize_row(t.dtype, t.data, buf.get(), n);
  return f32_copies_.emplace(t.data, std::move(buf)).first->second.get();
}

void CpuBackend::embed(const TensorView& table, const int32_t* ids, const View& out) {
  if (table.ndim != 2 || table.shape[1] != out.cols)
    throw Error("embedding table " + shape_string(table) + " does not give rows of " + std::to_string(out.cols));
  float* y = contiguous_output(out, "embed");
  kernels::embedding(table, ids, out.rows, y);
  finish_output(out, y);
}

void CpuBackend::matmul(const View& x, const MatmulTarget* targets, int n_targets) {
  constexpr int kMax = 8;
  if (n_targets < 1 || n_targets > kMax) throw Error("matmul takes 1 to 8 products, got " + std::to_string(n_targets));
  const float* in = contiguous_input(x, "matmul input");
  kernels::MatmulTarget k[kMax];
  for (int i = 0; i < n_targets; ++i) {
    const MatmulTarget& t = targets[i];
    if (t.w.ndim != 2 || t.w.shape[1] != x.cols)
      throw Error("weight shape " + shape_string(t.w) + " does not take inputs of " + std::to_string(x.cols));
    if (t.y.rows != x.rows || t.y.cols != t.w.shape[0])
      throw Error("matmul output [" + std::to_string(t.y.rows) + ", " + std::to_string(t.y.cols) + "] does not hold " +
                  std::to_string(x.rows) + " rows of " + std::to_string(t.w.shape[0]));
    if (t.bias && t.bias->numel() != t.w.shape[0]) throw Error("bias of " + std::to_string(t.bias->numel()) + " elements for " + shape_string(t.w));
    k[i].W = t.w;
    k[i].bias = t.bias ? as_f32(*t.bias) : nullptr;
    k[i].y = contiguous_output(t.y, "matmul output");
  }
  if (n_targets == 1) kernels::matmul(pool_, in, x.rows, x.cols, k[0].W, k[0].bias, k[0].y);
  else kernels::matmul_many(pool_, in, x.rows, x.cols, k, n_targets);
  for (int i = 0; i < n_targets; ++i) finish_output(targets[i].y, k[i].y);
}

void CpuBackend::norm(NormKind kind, const View& x, const TensorView& w, const TensorView* b, float eps, const View& y) {
  check_same_shape(x, y, "norm");
  if (w.numel() != x.cols || (b && b->numel() != x.cols)) throw Error("norm weights do not match rows of " + std::to_string(x.cols));
  const float* wf = as_f32(w);
  const float* bf = b ? as_f32(*b) : nullptr;
  const float* in = at(x, "norm input");
  float* out = at(y, "norm output");
  auto run = [&](const float* src, float* dst, int64_t rows) {
    if (kind == NormKind::Rms) kernels::rms_norm(pool_, src, wf, rows, x.cols, eps, dst);
    else kernels::layer_norm(pool_, src, wf, bf, rows, x.cols, eps, dst);
  };
  if (x.contiguous() && y.contiguous()) return run(in, out, x.rows);
  for (int64_t r = 0; r < x.rows; ++r) run(in + r * x.stride, out + r * y.stride, 1);
}

void CpuBackend::rope(const View& x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const int32_t* positions,
                      float theta, kernels::RopeMode mode) {
  if (x.cols != n_heads * head_dim)
    throw Error("rope over rows of " + std::to_string(x.cols) + " for " + std::to_string(n_heads) + " heads of " +
                std::to_string(head_dim));
  float* p = at(x, "rope");
  if (x.contiguous()) return kernels::rope(pool_, p, x.rows, n_heads, head_dim, n_rot, positions, theta, mode);
  for (int64_t r = 0; r < x.rows; ++r) kernels::rope(pool_, p + r * x.stride, 1, n_heads, head_dim, n_rot, positions + r, theta, mode);
}

void CpuBackend::activate(kernels::Activation act, const View& x) {
  float* p = at(x, "activation");
  if (x.contiguous()) return kernels::activate(pool_, act, p, x.elements());
  for (int64_t r = 0; r < x.rows; ++r) kernels::activate(pool_, act, p + r * x.stride, x.cols);
}

void CpuBackend::gated(kernels::Activation act, const View& gate, const View& up, const View& out) {
  check_same_shape(gate, up, "gated activation");
  check_same_shape(gate, out, "gated activation");
  const float* g = at(gate, "gate");
  const float* u = at(up, "up");
  float* o = at(out, "gated output");
  if (gate.contiguous() && up.contiguous() && out.contiguous()) return kernels::gated(pool_, act, g, u, o, gate.elements());
  for (int64_t r = 0; r < gate.rows; ++r)
    kernels::gated(pool_, act, g + r * gate.stride, u + r * up.stride, o + r * out.stride, gate.cols);
}

void CpuBackend::add(const View& y, const View& x) {
  check_same_shape(y, x, "add");
  float* dst = at(y, "add");
  const float* src = at(x, "add");
  if (y.contiguous() && x.contiguous()) return kernels::add(pool_, dst, src, y.elements());
  for (int64_t r = 0; r < y.rows; ++r) kernels::add(pool_, dst + r * y.stride, src + r * x.stride, y.cols);
}

void CpuBackend::add_bias(const View& y, const TensorView& bias) {
  if (bias.numel() != y.cols) throw Error("bias of " + std::to_string(bias.numel()) + " elements for rows of " + std::to_string(y.cols));
  const float* b = as_f32(bias);
  float* p = at(y, "bias");
  for (int64_t r = 0; r < y.rows; ++r)
    for (int64_t i = 0; i < y.cols; ++i) p[r * y.stride + i] += b[i];
}

void CpuBackend::copy(const View& dst, const View& src) {
  check_same_shape(dst, src, "copy");
  float* d = at(dst, "copy destination");
  const float* s = at(src, "copy source");
  if (dst.contiguous() && src.contiguous()) {
    std::memmove(d, s, static_cast<size_t>(dst.elements()) * sizeof(float));
    return;
  }
  for (int64_t r = 0; r < dst.rows; ++r)
    std::memmove(d + r * dst.stride, s + r * src.stride, static_cast<size_t>(dst.cols) * sizeof(float));
}

const float* CpuBackend::attention(const AttentionOp& op) {
  const int64_t width = op.n_heads * op.head_dim;
  if (op.q.cols != width || op.out.cols != width || op.out.rows != op.q.rows)
    throw Error("attention: queries [" + std::to_string(op.q.rows) + ", " + std::to_string(op.q.cols) + "] and output [" +
                std::to_string(op.out.rows) + ", " + std::to_string(op.out.cols) + "] do not match " +
                std::to_string(op.n_heads) + " heads of " + std::to_string(op.head_dim));
  kernels::AttentionArgs a;
  a.q = contiguous_input(op.q, "attention queries");
  a.k = op.keys ? host_address(*op.keys) : nullptr;
  a.v = op.values ? host_address(*op.values) : nullptr;
  a.kv_head_stride = op.kv_head_stride;
  a.T_q = op.q.rows;
  a.T_k = op.n_keys;
  a.n_heads = op.n_heads;
  a.n_kv_heads = op.n_kv_heads;
  a.head_dim = op.head_dim;
  a.q_pos0 = op.q_pos0;
  a.mask = op.mask.pattern;
  a.window = op.mask.window;
  a.scale = op.scale;
  a.out = contiguous_output(op.out, "attention output");
  a.lse = op.lse;
  a.row_stats = op.row_stats;
  a.pooled = op.pooled;
  kernels::attention(pool_, a);
  finish_output(op.out, a.out);
  return a.q;
}

}  // namespace mnemo::backend

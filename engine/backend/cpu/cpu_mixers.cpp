// The CPU backend's recurrent-family mixers: the family's feature map and gate transforms on
// scratch copies of the plugin's projections, then the kernels of mnemo/kernels/linear_attention.h
// and ssm.h over the layer's state. The transformed inputs stay in this step's scratch, so the
// probes read exactly what the kernel consumed.
#include <cmath>
#include <string>

#include "cpu_backend_impl.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/linear_attention.h"
#include "mnemo/kernels/ssm.h"

namespace mnemo::backend {
namespace {

// torch's softplus (threshold 20: above it, x itself).
float softplus(float x) { return x > 20.f ? x : std::log1p(std::exp(x)); }
float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }
// log σ(x) = −softplus(−x), without overflow for either sign.
float log_sigmoid(float x) { return -softplus(-x); }

void expect_cols(const View& v, int64_t rows, int64_t cols, const std::string& what) {
  if (v.rows != rows || v.cols != cols)
    throw Error(what + " is [" + std::to_string(v.rows) + ", " + std::to_string(v.cols) + "], expected [" +
                std::to_string(rows) + ", " + std::to_string(cols) + "]");
}

void expect_numel(const TensorView* t, int64_t n, const std::string& what) {
  if (!t) throw Error(what + " is required");
  if (t->numel() != n) throw Error(what + " has " + std::to_string(t->numel()) + " elements, expected " + std::to_string(n));
}

// Applies a feature map to T·H vectors of `dim` floats, in place.
void feature_map(FeatureMap map, float* x, int64_t vectors, int64_t dim) {
  switch (map) {
    case FeatureMap::Identity: return;
    case FeatureMap::EluPlusOne: kernels::elu_plus_one(x, vectors * dim); return;
    case FeatureMap::SiluL2:
    case FeatureMap::L2:
      for (int64_t i = 0; i < vectors; ++i) {
        float* v = x + i * dim;
        if (map == FeatureMap::SiluL2)
          for (int64_t d = 0; d < dim; ++d) v[d] = v[d] * sigmoid(v[d]);
        double ss = 0;
        for (int64_t d = 0; d < dim; ++d) ss += double{v[d]} * v[d];
        // fla's l2norm: x / sqrt(Σx² + 1e-6)
        const float inv = static_cast<float>(1.0 / std::sqrt(ss + 1e-6));
        for (int64_t d = 0; d < dim; ++d) v[d] *= inv;
      }
      return;
  }
}

}  // namespace

float* CpuBackend::scratch_copy(const View& v, const char* what) {
  check_view(v, what);
  float* copy = host_address(*scratch(v.elements()));
  read(v, copy);
  return copy;
}

LinearMixerFactors CpuBackend::linear_mixer(const LinearMixerOp& op) {
  const int64_t T = op.q.rows, H = op.n_heads, dk = op.dk, dv = op.dv;
  const std::string kind(op.variant);
  expect_cols(op.q, T, H * dk, kind + " queries");
  expect_cols(op.k, T, H * dk, kind + " keys");
  expect_cols(op.v, T, H * dv, kind + " values");
  expect_cols(op.out, T, H * dv, kind + " output");
  expect_cols(op.state, H * dk, dv, kind + " state");
  const bool delta = kind == "delta" || kind == "gated_delta";

  LinearMixerFactors f;
  kernels::LinearAttentionArgs a;
  float* q = scratch_copy(op.q, "linear mixer queries");
  float* k = scratch_copy(op.k, "linear mixer keys");
  feature_map(op.feature_map, q, T * H, dk);
  feature_map(op.feature_map, k, T * H, dk);
  a.q = f.q = q;
  a.k = f.k = k;
  a.v = contiguous_input(op.v, "linear mixer values");
  a.T = T, a.n_heads = H, a.dk = dk, a.dv = dv, a.scale = op.scale;

  if (kind == "retnet") {
    expect_numel(op.head_log_decay, H, "retnet's per-head log decay");
    a.head_log_decay = as_f32(*op.head_log_decay);
  } else if (kind == "gla") {
    expect_cols(op.gate, T, H * dk, "gla's gate logits");
    float* g = scratch_copy(op.gate, "gla gate");
    const float norm = op.gate_normalizer > 0.f ? op.gate_normalizer : 1.f;
    for (int64_t i = 0; i < T * H * dk; ++i) g[i] = log_sigmoid(g[i]) / norm;
    a.key_log_gate = f.log_gate = g;
  } else if (kind == "gated_delta") {
    expect_cols(op.gate, T, H, "gated delta's gate");
    expect_numel(op.A_log, H, "A_log");
    expect_numel(op.dt_bias, H, "dt_bias");
    float* g = scratch_copy(op.gate, "gated delta gate");
    const float* A_log = as_f32(*op.A_log);
    const float* dt_bias = as_f32(*op.dt_bias);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) g[t * H + h] = -std::exp(A_log[h]) * softplus(g[t * H + h] + dt_bias[h]);
    a.head_log_gate = f.log_gate = g;
  } else if (kind != "linear" && kind != "delta") {
    throw Error("linear mixer variant '" + kind + "' is not built");
  }
  if (delta) {
    expect_cols(op.beta, T, H, kind + "'s beta");
    float* b = scratch_copy(op.beta, "beta");
    for (int64_t i = 0; i < T * H; ++i) b[i] = sigmoid(b[i]);
    a.beta = f.beta = b;
  }
  a.state = at(op.state, "linear mixer state");
  if (!op.state.contiguous()) throw Error("the linear mixer's state must be contiguous");
  a.out = contiguous_output(op.out, "linear mixer output");
  if (delta) {
    if (op.chunked) kernels::delta_rule_chunked(pool_, a);
    else kernels::delta_rule_recurrent(pool_, a);
  } else {
    if (op.chunked) kernels::decay_attention_chunked(pool_, a);
    else kernels::decay_attention_recurrent(pool_, a);
  }
  finish_output(op.out, a.out);
  return f;
}

void CpuBackend::causal_conv1d(const ConvOp& op) {
  const int64_t T = op.x.rows, C = op.x.cols;
  expect_cols(op.out, T, C, "convolution output");
  expect_cols(op.window, C, op.window.cols, "convolution window");
  const int64_t K = op.window.cols + 1;
  if (op.weight.numel() != C * K)
    throw Error("convolution weight " + shape_string(op.weight) + " is not [" + std::to_string(C) + "][1][" + std::to_string(K) + "]");
  if (op.bias && op.bias->numel() != C) throw Error("convolution bias has " + std::to_string(op.bias->numel()) + " elements, expected " + std::to_string(C));
  // The layer keeps its window as [C][K−1] (a channel's taps together); the kernel wants [K−1][C].
  float* window = at(op.window, "convolution window");
  float* state = host_address(*scratch((K - 1) * C));
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < K - 1; ++i) state[i * C + c] = window[c * op.window.stride + i];
  kernels::CausalConvArgs a;
  a.x = contiguous_input(op.x, "convolution input");
  a.weight = as_f32(op.weight);
  a.bias = op.bias ? as_f32(*op.bias) : nullptr;
  a.T = T, a.D = C, a.K = K, a.silu = op.silu;
  a.conv_state = state;
  a.out = contiguous_output(op.out, "convolution output");
  if (a.out == a.x) throw Error("the convolution's output must not alias its input");
  kernels::causal_conv1d(pool_, a);
  finish_output(op.out, a.out);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < K - 1; ++i) window[c * op.window.stride + i] = state[i * C + c];
}

SsmFactors CpuBackend::ssm_scan(const SsmOp& op) {
  const int64_t T = op.x.rows, N = op.d_state, G = op.n_groups;
  const std::string kind(op.variant);
  const bool m1 = kind == "mamba1";
  if (!m1 && kind != "mamba2") throw Error("ssm variant '" + kind + "' is not built");
  const int64_t D = m1 ? op.channels : op.channels * op.head_dim;  // x's width
  const int64_t dt_width = op.channels;
  expect_cols(op.x, T, D, kind + " input");
  expect_cols(op.out, T, D, kind + " output");
  expect_cols(op.dt, T, dt_width, kind + " dt");
  expect_cols(op.B, T, G * N, kind + " B");
  expect_cols(op.C, T, G * N, kind + " C");
  expect_numel(op.dt_bias, dt_width, "dt_bias");
  expect_numel(op.A_log, m1 ? D * N : op.channels, "A_log");
  if (op.D) expect_numel(op.D, dt_width, "D");
  expect_cols(op.state, m1 ? D : op.channels * op.head_dim, N, kind + " state");
  if (!op.state.contiguous()) throw Error("the scan's state must be contiguous");
  if (op.channels % G != 0) throw Error(std::to_string(op.channels) + " channels do not split into " + std::to_string(G) + " groups");

  SsmFactors f;
  // Δ = softplus(dt + dt_bias) and A = −exp(A_log) here rather than in the kernel, so that the
  // probe's factors are the values the scan used.
  float* dt = scratch_copy(op.dt, "dt");
  const float* bias = as_f32(*op.dt_bias);
  // In parallel: at T = 16k this was a tenth of a Mamba-1 prefill, on one thread.
  pool_.parallel_for(T, 256, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t c = 0; c < dt_width; ++c) dt[t * dt_width + c] = softplus(dt[t * dt_width + c] + bias[c]);
  });
  const int64_t n_a = op.A_log->numel();
  float* A = host_address(*scratch(n_a));
  const float* A_log = as_f32(*op.A_log);
  for (int64_t i = 0; i < n_a; ++i) A[i] = -std::exp(A_log[i]);
  f.dt = dt, f.A = A;
  f.B = contiguous_input(op.B, "B");
  f.C = contiguous_input(op.C, "C");
  const float* x = contiguous_input(op.x, "scan input");
  float* out = contiguous_output(op.out, "scan output");
  if (out == x) throw Error("the scan's output must not alias its input");
  float* state = at(op.state, "scan state");
  if (m1) {
    kernels::SelectiveScanArgs a;
    a.x = x, a.delta = dt, a.A = A, a.B = f.B, a.C = f.C;
    a.D_skip = op.D ? as_f32(*op.D) : nullptr;
    a.z = op.z.buffer ? contiguous_input(op.z, "scan gate") : nullptr;
    if (op.z.buffer) expect_cols(op.z, T, D, "mamba1 gate");
    a.T = T, a.D = D, a.N = N, a.G = G, a.state = state, a.out = out;
    kernels::selective_scan(pool_, a);
  } else {
    if (op.z.buffer) throw Error("mamba2's gate belongs to the block's gated norm, not the scan");
    kernels::SsdArgs a;
    a.x = x, a.dt = dt, a.A = A, a.B = f.B, a.C = f.C;
    a.D_skip = op.D ? as_f32(*op.D) : nullptr;
    a.T = T, a.H = op.channels, a.P = op.head_dim, a.N = N, a.G = G, a.state = state, a.out = out;
    if (op.chunked) kernels::ssd_chunked(pool_, a);
    else kernels::ssd_recurrent(pool_, a);
  }
  finish_output(op.out, out);
  return f;
}

}  // namespace mnemo::backend

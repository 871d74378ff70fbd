// Where host services run: the interface every compute backend implements (engine/backend/cpu
// now; a device backend later, as a module of its own). The runtime's services table dispatches
// every op through it, on buffers the backend owns and plugins see only as handles, so a backend
// may keep activations and memory off the host. supports_op answers per op (and weight type), so
// the engine says at load time what a backend lacks instead of failing mid-run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mnemo/core/dtype.h"
#include "mnemo/core/tensor.h"
#include "mnemo/core/visibility.h"
#include "mnemo/kernels/attention.h"
#include "mnemo/kernels/ops.h"

namespace mnemo::backend {

// fp32 elements the backend owns. Plugins hold it as an opaque mnemo_buffer*.
class Buffer {
 public:
  virtual ~Buffer() = default;
  int64_t size() const { return size_; }  // elements

 protected:
  explicit Buffer(int64_t size) : size_(size) {}

 private:
  int64_t size_;
};

// rows × cols elements of a buffer, `offset` elements in, `stride` elements from row to row.
struct View {
  Buffer* buffer = nullptr;
  int64_t offset = 0, rows = 0, cols = 0, stride = 0;

  bool contiguous() const { return stride == cols || rows <= 1; }
  int64_t elements() const { return rows * cols; }
  // Rows [r0, r0 + n) and columns [c0, c0 + m) of this view.
  View sub(int64_t r0, int64_t n, int64_t c0, int64_t m) const { return {buffer, offset + r0 * stride + c0, n, m, stride}; }
};

// Throws mnemo::Error (naming `what`) unless the view lies inside its buffer.
void check_view(const View& v, const char* what);
// Throws unless a and b have the same rows and cols.
void check_same_shape(const View& a, const View& b, const char* what);

enum class NormKind { Layer, Rms };

// Softmax attention of one layer and step over its KV memory (slot j of KV head g holds the key
// at keys + g * kv_head_stride + j * head_dim, at position j, resident; see KvMemory).
struct AttentionOp {
  View q;    // [T_q][n_heads * head_dim] after RoPE
  View out;  // [T_q][n_heads * head_dim]
  const Buffer* keys = nullptr;
  const Buffer* values = nullptr;
  int64_t kv_head_stride = 0, n_keys = 0;
  int64_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int64_t q_pos0 = 0;
  Mask mask;
  float scale = 0.f;
  // Probe outputs in host memory, each optional (see kernels::AttentionArgs).
  float* lse = nullptr;
  kernels::AttentionRowStats row_stats;
  kernels::AttentionPooledMap pooled;
};

// How a linear mixer maps q and k before its recurrence (the ABI's mnemo_feature_map).
enum class FeatureMap { Identity, EluPlusOne, SiluL2, L2 };

// The recurrent families' mixers (docs/ARCHITECTURES.md). Inputs are the plugin's raw
// projections; the backend applies the family's feature map and gate transforms, runs the kernel
// over the layer's state (chunked for a prefill, recurrent for a decode step) and leaves the state
// after the last token there.
struct LinearMixerOp {
  std::string_view variant;  // "linear", "retnet", "gla", "delta", "gated_delta"
  View q, k, v, out;         // [T][H·dk], [T][H·dk], [T][H·dv], [T][H·dv]
  View gate, beta;           // see mnemo_linear_mixer_args; no buffer when not given
  FeatureMap feature_map = FeatureMap::Identity;
  float scale = 1.f, gate_normalizer = 1.f;
  const TensorView* A_log = nullptr;           // gated_delta [H]
  const TensorView* dt_bias = nullptr;         // gated_delta [H]
  const TensorView* head_log_decay = nullptr;  // retnet [H]
  View state;                                  // [H·dk][dv]
  int64_t n_heads = 0, dk = 0, dv = 0;
  bool chunked = false;
};
// What a mixer's kernel consumed, in host memory until the next begin_step (for the probes):
// each [T][heads][dim] unless said otherwise; null when the variant has none.
struct LinearMixerFactors {
  const float* q = nullptr;         // after the feature map
  const float* k = nullptr;
  const float* log_gate = nullptr;  // gla [T][H][dk], gated_delta [T][H]: per-token log decay
  const float* beta = nullptr;      // [T][H] after the sigmoid
};

// The short causal convolution; window is the layer's [C][K−1] memory of the last inputs.
struct ConvOp {
  View x, out;  // [T][C]
  TensorView weight;
  const TensorView* bias = nullptr;
  bool silu = false;
  View window;
};

struct SsmOp {
  std::string_view variant;  // "mamba1", "mamba2"
  View x, dt, B, C, z, out;
  const TensorView* dt_bias = nullptr;
  const TensorView* A_log = nullptr;
  const TensorView* D = nullptr;
  int64_t channels = 0;  // mamba1: d_inner; mamba2: heads
  int64_t head_dim = 1;  // mamba2: P
  int64_t d_state = 0, n_groups = 1;
  View state;
  bool chunked = false;
};
struct SsmFactors {
  const float* dt = nullptr;  // Δ after softplus, [T][channels]
  const float* A = nullptr;   // mamba1 [D][N], mamba2 [H]
  const float* B = nullptr;   // [T][G][N]
  const float* C = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // Whether this backend runs the op kind `op` ("matmul", "attention", "ssm_scan", ...) on
  // weights of type `weights` (F32 for ops without weights).
  virtual bool supports_op(std::string_view op, DType weights = DType::F32) const = 0;

  // --- buffers ---------------------------------------------------------------------------
  // Memory kept across steps (KV caches, recurrent states, outputs), zeroed.
  virtual std::unique_ptr<Buffer> allocate(int64_t elements) = 0;
  // A buffer valid until the next begin_step(); begin_step() frees them all.
  virtual Buffer* scratch(int64_t elements) = 0;
  virtual void begin_step() = 0;
  // Where the buffer's elements are in host memory, or null when it lives elsewhere (read it).
  virtual float* host_address(const Buffer& b) const = 0;
  virtual void write(const View& dst, const float* src) = 0;  // src: rows × cols, row-major
  virtual void read(const View& src, float* dst) = 0;

  // --- ops (shapes checked by the caller's service; views checked here) -----------------------
  virtual void embed(const TensorView& table, const int32_t* ids, const View& out) = 0;
  // y = x · Wᵀ (+ bias) for each target, sharing x (one parallel section when x has one row).
  struct MatmulTarget {
    TensorView w;
    const TensorView* bias = nullptr;
    View y;
  };
  virtual void matmul(const View& x, const MatmulTarget* targets, int n_targets) = 0;
  virtual void norm(NormKind kind, const View& x, const TensorView& w, const TensorView* b, float eps, const View& y) = 0;
  virtual void rope(const View& x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const int32_t* positions,
                    float theta, kernels::RopeMode mode) = 0;
  virtual void activate(kernels::Activation act, const View& x) = 0;
  virtual void gated(kernels::Activation act, const View& gate, const View& up, const View& out) = 0;
  virtual void add(const View& y, const View& x) = 0;
  virtual void add_bias(const View& y, const TensorView& bias) = 0;
  virtual void copy(const View& dst, const View& src) = 0;
  // Returns the queries the kernel read, contiguous [T_q][n_heads][head_dim] in host memory (the
  // view itself, or the backend's contiguous copy of a strided one) for the probes; null when
  // they are not on the host.
  virtual const float* attention(const AttentionOp& op) = 0;
  virtual LinearMixerFactors linear_mixer(const LinearMixerOp& op) = 0;
  virtual void causal_conv1d(const ConvOp& op) = 0;
  virtual SsmFactors ssm_scan(const SsmOp& op) = 0;
};

}  // namespace mnemo::backend

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
};

}  // namespace mnemo::backend

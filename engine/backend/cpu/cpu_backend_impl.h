// The CPU backend's state, shared by its buffer management (cpu_buffers.cpp) and its ops
// (cpu_backend.cpp).
#pragma once

#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mnemo/backend/backend.h"
#include "mnemo/core/arena.h"
#include "mnemo/core/thread_pool.h"

namespace mnemo::backend {

class CpuBuffer final : public Buffer {
 public:
  CpuBuffer(float* data, int64_t size) : Buffer(size), data_(data) {}
  explicit CpuBuffer(int64_t size) : Buffer(size), owned_(new float[static_cast<size_t>(size)]()), data_(owned_.get()) {}
  float* data() const { return data_; }

 private:
  std::unique_ptr<float[]> owned_;
  float* data_;
};

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool& pool);

  const char* name() const override { return "cpu"; }
  bool supports_op(std::string_view op, DType weights) const override;

  std::unique_ptr<Buffer> allocate(int64_t elements) override;
  Buffer* scratch(int64_t elements) override;
  void begin_step() override;
  float* host_address(const Buffer& b) const override { return static_cast<const CpuBuffer&>(b).data(); }
  void write(const View& dst, const float* src) override;
  void read(const View& src, float* dst) override;

  void embed(const TensorView& table, const int32_t* ids, const View& out) override;
  void matmul(const View& x, const MatmulTarget* targets, int n_targets) override;
  void norm(NormKind kind, const View& x, const TensorView& w, const TensorView* b, float eps, const View& y) override;
  void rope(const View& x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const int32_t* positions, float theta,
            kernels::RopeMode mode) override;
  void activate(kernels::Activation act, const View& x) override;
  void gated(kernels::Activation act, const View& gate, const View& up, const View& out) override;
  void add(const View& y, const View& x) override;
  void add_bias(const View& y, const TensorView& bias) override;
  void copy(const View& dst, const View& src) override;
  const float* attention(const AttentionOp& op) override;
  LinearMixerFactors linear_mixer(const LinearMixerOp& op) override;
  void causal_conv1d(const ConvOp& op) override;
  SsmFactors ssm_scan(const SsmOp& op) override;

 private:
  // Row 0 of a checked view.
  float* at(const View& v, const char* what) const;
  // A view's elements as contiguous rows: the view itself, or a scratch copy of a strided one.
  const float* contiguous_input(const View& v, const char* what);
  // Where an op writes a view's rows contiguously: the view itself, or scratch that
  // finish_output() copies back.
  float* contiguous_output(const View& v, const char* what);
  void finish_output(const View& v, const float* written);
  // A contiguous scratch copy of a view the op may then change (T rows of cols floats).
  float* scratch_copy(const View& v, const char* what);
  // An fp32 view of a small tensor (norm weights, biases) stored as f16/bf16; cached.
  const float* as_f32(const TensorView& t);

  ThreadPool& pool_;
  Arena arena_;
  std::deque<CpuBuffer> scratch_buffers_;               // this step's scratch handles
  std::vector<std::unique_ptr<float[]>> overflow_;      // scratch the arena could not hold this step
  size_t overflow_bytes_ = 0;
  std::unordered_map<const void*, std::unique_ptr<float[]>> f32_copies_;
};

}  // namespace mnemo::backend

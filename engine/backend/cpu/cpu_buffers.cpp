// CPU buffers: memory kept across steps is zeroed host memory; per-step scratch comes from a
// preallocated, pre-touched arena that grows between steps if a step overflowed it, so
// steady-state decode never page-faults.
#include <algorithm>
#include <cstring>

#include "cpu_backend_impl.h"
#include "mnemo/backend/cpu_backend.h"
#include "mnemo/core/error.h"

namespace mnemo::backend {
namespace {
constexpr size_t kInitialScratchBytes = size_t{32} << 20;
}

CpuBackend::CpuBackend(ThreadPool& pool) : pool_(pool) { arena_.reserve(kInitialScratchBytes); }

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool) { return std::make_unique<CpuBackend>(pool); }

std::unique_ptr<Buffer> CpuBackend::allocate(int64_t elements) {
  if (elements < 0) throw Error("cannot allocate a buffer of " + std::to_string(elements) + " elements");
  return std::make_unique<CpuBuffer>(std::max<int64_t>(elements, 1));  // zeroed: pages touched now
}

Buffer* CpuBackend::scratch(int64_t elements) {
  if (elements < 0) throw Error("cannot allocate scratch of " + std::to_string(elements) + " elements");
  const size_t n = static_cast<size_t>(std::max<int64_t>(elements, 1));
  const size_t bytes = n * sizeof(float);
  float* data;
  if (arena_.capacity() - std::min(arena_.capacity(), arena_.used()) >= bytes + 64) {
    data = arena_.allocate_array<float>(n);
  } else {
    // Too big for this step's arena: serve it from the heap now; the arena grows before the next step.
    overflow_.emplace_back(new float[n]);
    overflow_bytes_ += bytes + 64;
    data = overflow_.back().get();
  }
  return &scratch_buffers_.emplace_back(data, static_cast<int64_t>(n));
}

void CpuBackend::begin_step() {
  // Scratch that overflowed the arena last time is folded into it now, between steps.
  if (overflow_bytes_) {
    arena_.reserve(arena_.high_water() + overflow_bytes_ + (size_t{1} << 20));
    overflow_.clear();
    overflow_bytes_ = 0;
  }
  arena_.reset();
  scratch_buffers_.clear();
}

float* CpuBackend::at(const View& v, const char* what) const {
  check_view(v, what);
  return host_address(*v.buffer) + v.offset;
}

void CpuBackend::write(const View& dst, const float* src) {
  float* d = at(dst, "write");
  for (int64_t r = 0; r < dst.rows; ++r)
    std::memcpy(d + r * dst.stride, src + r * dst.cols, static_cast<size_t>(dst.cols) * sizeof(float));
}

void CpuBackend::read(const View& src, float* dst) {
  const float* s = at(src, "read");
  for (int64_t r = 0; r < src.rows; ++r)
    std::memcpy(dst + r * src.cols, s + r * src.stride, static_cast<size_t>(src.cols) * sizeof(float));
}

const float* CpuBackend::contiguous_input(const View& v, const char* what) {
  const float* p = at(v, what);
  if (v.contiguous()) return p;
  float* copy = host_address(*scratch(v.elements()));
  read(v, copy);
  return copy;
}

float* CpuBackend::contiguous_output(const View& v, const char* what) {
  float* p = at(v, what);
  return v.contiguous() ? p : host_address(*scratch(v.elements()));
}

void CpuBackend::finish_output(const View& v, const float* written) {
  if (!v.contiguous()) write(v, written);
}

}  // namespace mnemo::backend

// A non-owning view of a tensor: shape in row-major order (outermost first, like NumPy), element
// type, and a pointer to contiguous data. Weights are views into memory-mapped files.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "mnemo/core/dtype.h"

namespace mnemo {

constexpr int kMaxDims = 4;

struct TensorView {
  DType dtype = DType::F32;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};  // shape[0] outermost; shape[ndim-1] contiguous
  const void* data = nullptr;
  uint64_t nbytes = 0;

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  int64_t rows() const { return ndim == 0 ? 1 : numel() / shape[ndim - 1]; }
  int64_t cols() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
  const float* f32() const { return static_cast<const float*>(data); }
};

std::string shape_string(const TensorView& t);  // "[1536, 576]"

}  // namespace mnemo

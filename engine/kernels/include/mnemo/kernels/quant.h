// Conversion between float and the stored weight types (F16, BF16, Q8_0, Q4_0, Q4_1, K-quants).
// Block layouts are GGML's, bit for bit, so GGUF tensors are used in place.
#pragma once

#include <cstdint>

#include "mnemo/core/dtype.h"

namespace mnemo::kernels {

// True when dequantize_row supports t.
bool can_dequantize(DType t);
// True when quantize_row supports t (used to write test models and to quantize activations).
bool can_quantize(DType t);

// dst[0..n) = src as floats. n must be a multiple of the type's block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// dst = src quantized with GGML's reference rounding. n must be a multiple of the block size.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace mnemo::kernels

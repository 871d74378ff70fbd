// Decoders shared inside the module: K-quant rows (nb = number of 256-element super-blocks).
#pragma once

#include <cstdint>

namespace mnemo::kernels {

void dequantize_q2_k(const void* src, float* dst, int64_t nb);
void dequantize_q3_k(const void* src, float* dst, int64_t nb);
void dequantize_q4_k(const void* src, float* dst, int64_t nb);
void dequantize_q5_k(const void* src, float* dst, int64_t nb);
void dequantize_q6_k(const void* src, float* dst, int64_t nb);

}  // namespace mnemo::kernels

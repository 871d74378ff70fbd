// Decoders shared inside the module: K-quant rows (nb = number of 256-element super-blocks).
#pragma once

#include <cstdint>

namespace mnemo::kernels {

// The module builds with -ffp-contract=fast; GGML's reference (and gguf-py) rounds the product
// before the add, so a fused multiply-add would flip the last bit of some quants. The empty asm
// forces the product into a register, rounded, before it is used.
inline float product_rounded(float a, float b) {
  float p = a * b;
  asm("" : "+x"(p));
  return p;
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block's 12 scale bytes.
inline void q4_k_scale_min(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dequantize_q2_k(const void* src, float* dst, int64_t nb);
void dequantize_q3_k(const void* src, float* dst, int64_t nb);
void dequantize_q4_k(const void* src, float* dst, int64_t nb);
void dequantize_q5_k(const void* src, float* dst, int64_t nb);
void dequantize_q6_k(const void* src, float* dst, int64_t nb);

}  // namespace mnemo::kernels

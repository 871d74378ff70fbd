// Row-wise and element-wise operators of transformer blocks. All work on row-major float rows;
// the row-parallel ones split rows across the pool.
#pragma once

#include <cstdint>

#include "mnemo/core/tensor.h"
#include "mnemo/core/thread_pool.h"

namespace mnemo::kernels {

// y = (x - mean) / sqrt(var + eps) * w + b, per row of n. b may be null. y may equal x.
void layer_norm(ThreadPool& pool, const float* x, const float* w, const float* b, int64_t rows,
                int64_t n, float eps, float* y);
// y = x / sqrt(mean(x²) + eps) * w, per row of n. y may equal x.
void rms_norm(ThreadPool& pool, const float* x, const float* w, int64_t rows, int64_t n, float eps,
              float* y);

enum class Activation { GeluTanh, GeluErf, Silu, Relu };
void activate(ThreadPool& pool, Activation kind, float* x, int64_t n);  // in place
// out = act(gate) * up (SwiGLU when act is Silu, GeGLU when Gelu*). out may equal gate or up.
void gated(ThreadPool& pool, Activation kind, const float* gate, const float* up, float* out,
           int64_t n);
void add(ThreadPool& pool, float* y, const float* x, int64_t n);  // y += x

// In-place softmax of each row of n; returns nothing. Rows are independent.
void softmax_rows(float* x, int64_t rows, int64_t n);

// Rotary position embedding, in place, on x = [T][n_heads][head_dim] (row stride
// n_heads*head_dim). The first n_rot dims of each head rotate by angle pos·theta^(-2i/n_rot).
// Interleaved rotates pairs (2i, 2i+1) (GGUF's llama layout); NeoX rotates (i, i + n_rot/2)
// (Hugging Face's rotate_half).
enum class RopeMode { Interleaved, NeoX };
void rope(ThreadPool& pool, float* x, int64_t T, int64_t n_heads, int64_t head_dim, int64_t n_rot,
          const int32_t* positions, float theta, RopeMode mode);

// out[i] = table row ids[i] as floats (table is [vocab][d] of any dequantizable type).
// Throws mnemo::Error when an id is out of range.
void embedding(const TensorView& table, const int32_t* ids, int64_t n, float* out);

}  // namespace mnemo::kernels

// Rotary position embedding and embedding lookup.
#include <cmath>
#include <string>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/kernels/ops.h"
#include "mnemo/kernels/quant.h"
#include "scratch.h"

namespace mnemo::kernels {

void rope(ThreadPool& pool, float* x, int64_t T, int64_t n_heads, int64_t head_dim, int64_t n_rot,
          const int32_t* positions, float theta, RopeMode mode) {
  const int64_t half = n_rot / 2;
  // Frequencies once per call, in double so pos·freq keeps its precision at long positions.
  thread_local std::vector<double> freq;
  freq.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    freq[static_cast<size_t>(i)] = std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
  const double* f = freq.data();
  pool.parallel_for(T, 1, [&](int64_t t0, int64_t t1) {
    float* cs = scratch_floats(Scratch::RopeAngles, static_cast<size_t>(2 * half));
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(positions[t]) * f[i];
        cs[2 * i] = static_cast<float>(std::cos(angle));
        cs[2 * i + 1] = static_cast<float>(std::sin(angle));
      }
      for (int64_t h = 0; h < n_heads; ++h) {
        float* v = x + (t * n_heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float c = cs[2 * i], s = cs[2 * i + 1];
          float& a = mode == RopeMode::Interleaved ? v[2 * i] : v[i];
          float& b = mode == RopeMode::Interleaved ? v[2 * i + 1] : v[i + half];
          const float a0 = a, b0 = b;
          a = a0 * c - b0 * s;
          b = a0 * s + b0 * c;
        }
      }
    }
  });
}

void embedding(const TensorView& table, const int32_t* ids, int64_t n, float* out) {
  if (!can_dequantize(table.dtype))
    throw Error("embedding: table type " + std::string(dtype_name(table.dtype)) + " cannot be decoded");
  const int64_t vocab = table.rows(), d = table.cols();
  const auto rb = row_bytes(table.dtype, d);
  if (!rb) throw Error("embedding: row of " + std::to_string(d) + " is not a whole number of blocks");
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab)
      throw Error("embedding: token id " + std::to_string(ids[i]) + " is outside the vocabulary of " +
                  std::to_string(vocab));
    const auto* row = static_cast<const uint8_t*>(table.data) + static_cast<uint64_t>(ids[i]) * *rb;
    dequantize_row(table.dtype, row, out + i * d, d);
  }
}

}  // namespace mnemo::kernels

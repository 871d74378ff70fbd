// matmul(): picks the path by M and the weights' type.
//   M == 1, type with a matvec kernel  → matvec kernels at the active CPU level (decode)
//   M <= kSmallQuantM, 32-elem. quants → one matvec per row of x
//   M <= kSmallM, other types          → rows path: each weight row decoded once, dotted with
//                                        every row of x (weights stream once from memory)
//   otherwise                          → OpenBLAS sgemm per thread on its slice of N, on
//                                        dequantized panels for non-f32 weights (prefill)
#include "mnemo/kernels/matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "blas.h"
#include "cpu_level.h"
#include "matvec.h"
#include "parallel.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/quant.h"
#include "quant_blocks.h"
#include "scratch.h"

namespace mnemo::kernels {
namespace {

// Up to this many rows of x the rows path beats sgemm: sgemm would repack x and, for quantized
// weights, dequantize whole panels for too few rows to amortise them.
constexpr int64_t kSmallM = 4;
// For the 32-element quants, up to this many rows one matvec per row wins (measured at 768→3072:
// Q4_1 M=8 takes ~1.3 ms as matvecs, ~2.3 ms as dequantized panels + sgemm, one thread).
constexpr int64_t kSmallQuantM = 8;

// Columns a thread owns in the gemm path are a multiple of this (whole sgemm micro-tiles).
constexpr int64_t kColumnAlign = 16;

// About eight chunks per thread: enough to rebalance when a thread is delayed, few enough that
// the atomic counter costs nothing next to a chunk (at least 16 rows).
int64_t rows_per_chunk(int64_t rows, int threads) {
  return std::max<int64_t>(16, (rows + 8 * threads - 1) / (8 * threads));
}

MatvecRowsFn matvec_kernel(DType t) {
  switch (active_cpu_level()) {
    case CpuLevel::Avx512: return matvec_kernel_avx512(t);
    case CpuLevel::Avx2: return matvec_kernel_avx2(t);
    default: return matvec_kernel_scalar(t);
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  if (active_cpu_level() == CpuLevel::Scalar) {
    float s = 0.f;
    for (int64_t k = 0; k < n; ++k) s += a[k] * b[k];
    return s;
  }
  return dot_f32_avx2(a, b, n);
}

bool needs_block_sums(DType t) { return t == DType::Q4_0 || t == DType::Q4_1 || t == DType::Q4_K; }

// Σx per 32-element block, which the Q4 kernels fold their offsets into. The calling thread's
// buffer; workers only read it during the section.
const float* block_sums(const float* x, int64_t K) {
  thread_local std::vector<float> xsum;
  xsum.resize(static_cast<size_t>(K / kQK));
  for (int64_t b = 0; b < K / kQK; ++b) {
    float s = 0.f;
    for (int j = 0; j < kQK; ++j) s += x[b * kQK + j];
    xsum[static_cast<size_t>(b)] = s;
  }
  return xsum.data();
}

MatvecArgs matvec_args(const float* x, int64_t K, const TensorView& W, size_t row_bytes, const float* bias,
                       float* y, const float* xsum) {
  MatvecArgs a;
  a.w = static_cast<const uint8_t*>(W.data);
  a.row_bytes = row_bytes;
  a.x = x;
  a.bias = bias;
  a.K = K;
  a.y = y;
  if (needs_block_sums(W.dtype)) a.xsum = xsum;
  return a;
}

void matvec(ThreadPool& pool, MatvecRowsFn kernel, const float* x, int64_t K, const TensorView& W,
            size_t row_bytes, const float* bias, float* y) {
  const MatvecArgs a = matvec_args(x, K, W, row_bytes, bias, y, needs_block_sums(W.dtype) ? block_sums(x, K) : nullptr);
  parallel_chunks(pool, W.rows(), rows_per_chunk(W.rows(), pool.size()),
                  [&](int64_t n0, int64_t n1) { kernel(a, n0, n1); });
}

void rows_path(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& W,
               size_t row_bytes, const float* bias, float* y) {
  const int64_t N = W.rows();
  const auto* w = static_cast<const uint8_t*>(W.data);
  parallel_chunks(pool, N, rows_per_chunk(N, pool.size()), [&](int64_t n0, int64_t n1) {
    float* decoded = W.dtype == DType::F32 ? nullptr : scratch_floats(Scratch::MatmulPanel, static_cast<size_t>(K));
    for (int64_t n = n0; n < n1; ++n) {
      const uint8_t* row = w + static_cast<size_t>(n) * row_bytes;
      const float* wf = reinterpret_cast<const float*>(row);
      if (decoded) {
        dequantize_row(W.dtype, row, decoded, K);
        wf = decoded;
      }
      const float b = bias ? bias[n] : 0.f;
      for (int64_t m = 0; m < M; ++m) y[m * N + n] = dot_f32(wf, x + m * K, K) + b;
    }
  });
}

// Rows of W dequantized per sgemm call. Each call repacks all of x, so a panel must be wide
// enough to amortise that (at K = 3072, 32-row panels ran at 149 GFLOP/s vs 180 for f32 weights);
// about 1 MiB of floats, at least 128 rows.
int64_t panel_rows(int64_t K) {
  const int64_t rows = (int64_t{256} * 1024) / std::max<int64_t>(K, 1);
  return std::clamp<int64_t>(rows / kColumnAlign * kColumnAlign, 128, 1024);
}

// sgemm on columns n0..n1 of W, dequantizing non-f32 weights a panel at a time into the calling
// thread's scratch.
void gemm_columns(const float* x, int64_t M, int64_t K, const TensorView& W, size_t row_bytes, const float* bias,
                  float* y, int64_t n0, int64_t n1) {
  const int64_t N = W.rows();
  if (W.dtype == DType::F32) {
    blas_sgemm(true, M, n1 - n0, K, 1.f, x, K, W.f32() + n0 * K, K, 0.f, y + n0, N);
  } else {
    const auto* w = static_cast<const uint8_t*>(W.data);
    const int64_t panel = panel_rows(K);
    float* buf = scratch_floats(Scratch::MatmulPanel, static_cast<size_t>(panel * K));
    for (int64_t p0 = n0; p0 < n1; p0 += panel) {
      const int64_t pn = std::min(panel, n1 - p0);
      for (int64_t r = 0; r < pn; ++r)
        dequantize_row(W.dtype, w + static_cast<size_t>(p0 + r) * row_bytes, buf + r * K, K);
      blas_sgemm(true, M, pn, K, 1.f, x, K, buf, K, 0.f, y + p0, N);
    }
  }
  if (bias)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = n0; n < n1; ++n) y[m * N + n] += bias[n];
}

void gemm_path(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& W,
               size_t row_bytes, const float* bias, float* y) {
  ensure_blas_single_threaded();
  const int64_t N = W.rows();
  const int64_t tiles = (N + kColumnAlign - 1) / kColumnAlign;
  // One column range per thread, fixed by N and the pool's size alone, whether or not a core is
  // lent to the session writer: OpenBLAS's sums depend on the shape of each call (measured on Zen 3
  // with its Zen kernels: splitting 1536 columns in two calls instead of one changes ~1% of the
  // outputs in the last bit), so a split that followed the loan's timing made recordings of the
  // same prompt differ from run to run. Finer ranges while lent saved ~14 ms of a recorded
  // SmolLM2 prefill; identical runs are worth more.
  pool.run([&](int t, int nt) {
    const int64_t n0 = std::min(N, tiles * t / nt * kColumnAlign);
    const int64_t n1 = std::min(N, tiles * (t + 1) / nt * kColumnAlign);
    if (n0 < n1) gemm_columns(x, M, K, W, row_bytes, bias, y, n0, n1);
  });
}

}  // namespace

bool matmul_supports(DType t) { return can_dequantize(t); }

namespace {

// Checks a product's operands; returns the bytes of one weight row.
size_t checked_row_bytes(int64_t K, const TensorView& W) {
  if (!matmul_supports(W.dtype))
    throw Error("matmul: weights of type " + std::string(dtype_name(W.dtype)) + " are not supported");
  if (W.ndim < 1 || W.cols() != K)
    throw Error("matmul: weights " + shape_string(W) + " do not have K = " + std::to_string(K) + " columns");
  const auto rb = row_bytes(W.dtype, K);
  if (!rb) throw Error("matmul: K = " + std::to_string(K) + " is not a whole number of blocks");
  if (W.data == nullptr || W.nbytes < *rb * static_cast<uint64_t>(W.rows()))
    throw Error("matmul: weights " + shape_string(W) + " hold fewer bytes than their shape needs");
  return static_cast<size_t>(*rb);
}

}  // namespace

void matmul_many(ThreadPool& pool, const float* x, int64_t M, int64_t K, const MatmulTarget* targets, int n_targets) {
  bool fused = M == 1;
  for (int i = 0; i < n_targets && fused; ++i) fused = matvec_kernel(targets[i].W.dtype) != nullptr;
  if (!fused) {
    for (int i = 0; i < n_targets; ++i) matmul(pool, x, M, K, targets[i].W, targets[i].bias, targets[i].y);
    return;
  }
  constexpr int kMaxTargets = 8;
  if (n_targets > kMaxTargets) throw Error("matmul_many: more than 8 products");
  MatvecArgs args[kMaxTargets];
  MatvecRowsFn kernels[kMaxTargets];
  int64_t first_row[kMaxTargets + 1] = {0};
  const float* xsum = nullptr;
  for (int i = 0; i < n_targets; ++i) {
    const TensorView& W = targets[i].W;
    const size_t rb = checked_row_bytes(K, W);
    if (needs_block_sums(W.dtype) && !xsum) xsum = block_sums(x, K);
    args[i] = matvec_args(x, K, W, rb, targets[i].bias, targets[i].y, xsum);
    kernels[i] = matvec_kernel(W.dtype);
    first_row[i + 1] = first_row[i] + W.rows();
  }
  // One section over the rows of every weight; a chunk that straddles two weights is split.
  const int64_t total = first_row[n_targets];
  parallel_chunks(pool, total, rows_per_chunk(total, pool.size()), [&](int64_t r0, int64_t r1) {
    for (int i = 0; i < n_targets && r0 < r1; ++i) {
      const int64_t lo = std::max(r0, first_row[i]), hi = std::min(r1, first_row[i + 1]);
      if (lo < hi) kernels[i](args[i], lo - first_row[i], hi - first_row[i]);
    }
  });
}

void matmul(ThreadPool& pool, const float* x, int64_t M, int64_t K, const TensorView& W,
            const float* bias, float* y) {
  const size_t row_bytes_w = checked_row_bytes(K, W);
  if (M <= 0 || W.rows() == 0) return;

  const MatvecRowsFn kernel = matvec_kernel(W.dtype);
  // A few rows against 32-element quants: one matvec per row beats decoding every weight row to
  // floats (the scalar decode costs more than re-reading the blocks from cache).
  const bool legacy_quant = W.dtype == DType::Q8_0 || W.dtype == DType::Q4_0 || W.dtype == DType::Q4_1 ||
                            W.dtype == DType::Q4_K;
  if (kernel && (M == 1 || (M <= kSmallQuantM && legacy_quant))) {
    for (int64_t m = 0; m < M; ++m) matvec(pool, kernel, x + m * K, K, W, row_bytes_w, bias, y + m * W.rows());
    return;
  }
  if (M <= kSmallM) {
    rows_path(pool, x, M, K, W, row_bytes_w, bias, y);
    return;
  }
  gemm_path(pool, x, M, K, W, row_bytes_w, bias, y);
}

}  // namespace mnemo::kernels

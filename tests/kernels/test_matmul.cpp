// matmul on every weight type, path (M = 1 matvec, small-M rows path, sgemm panels), thread count
// and CPU level, against a double-precision product of the dequantized weights.
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <tuple>

#include "kernel_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/kernels/quant.h"

namespace mnemo::kernels {
namespace {

using testing::random_floats;

// Offsets of the f16 scale fields in the K-quant blocks: random bytes there could be inf/NaN.
std::vector<int> kquant_f16_offsets(DType t) {
  switch (t) {
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q6_K: return {208};
    default: return {};
  }
}

struct Weights {
  TensorView view;
  std::vector<uint8_t> bytes;
  std::vector<float> dequantized;  // what the kernels must multiply by, [N][K]
};

Weights make_weights(DType t, int64_t N, int64_t K, uint32_t seed) {
  Weights w;
  const uint64_t rb = *row_bytes(t, K);
  w.bytes.resize(rb * static_cast<uint64_t>(N));
  if (can_quantize(t)) {
    const auto f = random_floats(static_cast<size_t>(N * K), seed);
    for (int64_t n = 0; n < N; ++n) quantize_row(t, f.data() + n * K, w.bytes.data() + n * rb, K);
  } else {
    std::mt19937 rng(seed);
    for (auto& b : w.bytes) b = static_cast<uint8_t>(rng());
    const auto& tr = traits(t);
    for (size_t blk = 0; blk < w.bytes.size() / static_cast<size_t>(tr.block_bytes); ++blk)
      for (int off : kquant_f16_offsets(t)) {
        const uint16_t h = f32_to_fp16(0.001f + 0.01f * static_cast<float>(rng() % 100));
        std::memcpy(w.bytes.data() + blk * static_cast<size_t>(tr.block_bytes) + off, &h, 2);
      }
  }
  w.dequantized.resize(static_cast<size_t>(N * K));
  for (int64_t n = 0; n < N; ++n) dequantize_row(t, w.bytes.data() + n * rb, w.dequantized.data() + n * K, K);
  w.view.dtype = t;
  w.view.ndim = 2;
  w.view.shape = {N, K, 0, 0};
  w.view.data = w.bytes.data();
  w.view.nbytes = w.bytes.size();
  return w;
}

std::vector<double> reference_product(const std::vector<float>& x, int64_t M, int64_t K, const Weights& w,
                                      const float* bias) {
  const int64_t N = w.view.shape[0];
  std::vector<double> y(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = bias ? bias[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(x[m * K + k]) * w.dequantized[n * K + k];
      y[m * N + n] = s;
    }
  return y;
}

// K chosen per type: odd for the float types (exercises every tail), whole blocks otherwise.
int64_t test_k(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: return 157;
    case DType::Q8_0: case DType::Q4_0: case DType::Q4_1: return 160;
    default: return 512;
  }
}

using MatmulCase = std::tuple<DType, int64_t /*M*/, int /*threads*/, std::string /*cpu level*/>;

class MatmulAllTypes : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(MatmulAllTypes, MatchesDoublePrecisionProduct) {
  const auto& [type, M, threads, level] = GetParam();
  testing::ScopedCpuLevel cpu(level);
  ThreadPool pool(threads);
  const int64_t K = test_k(type), N = 67;  // N odd and not a multiple of the column alignment
  const Weights w = make_weights(type, N, K, 7);
  const auto x = random_floats(static_cast<size_t>(M * K), 11);
  const auto bias = random_floats(static_cast<size_t>(N), 13);
  for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
    std::vector<float> y(static_cast<size_t>(M * N), NAN);
    matmul(pool, x.data(), M, K, w.view, b, y.data());
    const auto want = reference_product(x, M, K, w, b);
    EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 2e-6)
        << dtype_name(type) << " M=" << M << " bias=" << (b != nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grid, MatmulAllTypes,
    ::testing::Combine(::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0,
                                         DType::Q4_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                         DType::Q6_K),
                       ::testing::Values<int64_t>(1, 3, 19), ::testing::Values(1, 2, 3),
                       ::testing::ValuesIn(testing::cpu_levels())),
    [](const auto& info) {
      const std::string level = std::get<3>(info.param).empty() ? "native" : std::get<3>(info.param);
      return std::string(dtype_name(std::get<0>(info.param))) + "_M" + std::to_string(std::get<1>(info.param)) +
             "_t" + std::to_string(std::get<2>(info.param)) + "_" + level;
    });

// Decode-shaped products keep fp32 activations: relative error must stay at fp32 rounding level
// even with K in the thousands (an int8-quantized x would be off by ~1e-3).
TEST(Matmul, DecodeShapesStayAtFp32Accuracy) {
  ThreadPool pool(2);
  for (DType t : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_1, DType::Q4_0}) {
    const int64_t K = 1536, N = 40;
    const Weights w = make_weights(t, N, K, 3);
    const auto x = random_floats(static_cast<size_t>(K), 5);
    std::vector<float> y(static_cast<size_t>(N));
    matmul(pool, x.data(), 1, K, w.view, nullptr, y.data());
    const auto want = reference_product(x, 1, K, w, nullptr);
    EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 1e-5) << dtype_name(t);
  }
}

// matmul_many gives exactly what one matmul per weight gives, across mixed types and row counts
// that split chunks at weight boundaries, for decode (one section) and prefill (sequential).
TEST(Matmul, ManyProductsEqualSeparateProducts) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    const int64_t K = 160;
    const Weights q = make_weights(DType::Q4_1, 67, K, 21), k = make_weights(DType::Q8_0, 19, K, 22),
                  v = make_weights(DType::F16, 33, K, 23);
    const auto bias = random_floats(67, 29);
    for (int64_t M : {1, 5}) {
      const auto x = random_floats(static_cast<size_t>(M * K), 31);
      std::vector<float> yq(static_cast<size_t>(M * 67)), yk(static_cast<size_t>(M * 19)), yv(static_cast<size_t>(M * 33));
      const MatmulTarget targets[] = {{q.view, bias.data(), yq.data()}, {k.view, nullptr, yk.data()}, {v.view, nullptr, yv.data()}};
      matmul_many(pool, x.data(), M, K, targets, 3);
      for (const auto& [w, b, y] : {std::tuple{&q, bias.data(), &yq}, std::tuple{&k, (const float*)nullptr, &yk},
                                     std::tuple{&v, (const float*)nullptr, &yv}}) {
        std::vector<float> alone(y->size());
        matmul(pool, x.data(), M, K, w->view, b, alone.data());
        EXPECT_EQ(*y, alone) << "threads " << threads << " M " << M << " " << dtype_name(w->view.dtype);
      }
    }
  }
}

TEST(Matmul, SeveralDequantizedPanelsPerThread) {  // 1 thread: 600 columns = 256 + 256 + 88
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    const int64_t K = 1024, N = 600, M = 9;
    const Weights w = make_weights(DType::F16, N, K, 21);
    const auto x = random_floats(static_cast<size_t>(M * K), 22);
    const auto bias = random_floats(static_cast<size_t>(N), 23);
    std::vector<float> y(static_cast<size_t>(M * N));
    matmul(pool, x.data(), M, K, w.view, bias.data(), y.data());
    const auto want = reference_product(x, M, K, w, bias.data());
    EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 2e-6) << threads;
  }
}

// While a core is lent (ThreadPool::borrow_core) the sgemm path takes columns in eighths, so the
// worker coming back mid-section finds work. Same products, also when the core returns midway.
TEST(Matmul, GemmWhileACoreIsLentMatchesTheReference) {
  for (DType type : {DType::F32, DType::Q4_1}) {
    ThreadPool pool(2);
    const int64_t K = 320, N = 600, M = 37;  // 600 columns: eighths of 80, the last one short
    const Weights w = make_weights(type, N, K, 31);
    const auto x = random_floats(static_cast<size_t>(M * K), 32);
    const auto bias = random_floats(static_cast<size_t>(N), 33);
    const auto want = reference_product(x, M, K, w, bias.data());
    ASSERT_TRUE(pool.borrow_core());
    ASSERT_TRUE(pool.core_lent());
    std::vector<float> y(static_cast<size_t>(M * N), NAN);
    matmul(pool, x.data(), M, K, w.view, bias.data(), y.data());
    EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 2e-6) << dtype_name(type) << " lent";
    // The core coming back while products run: every column still written once.
    std::atomic<bool> done{false};
    std::thread give_back([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      pool.return_core();
      done = true;
    });
    for (int rep = 0; rep < 20; ++rep) {
      std::fill(y.begin(), y.end(), NAN);
      matmul(pool, x.data(), M, K, w.view, bias.data(), y.data());
      EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 2e-6) << dtype_name(type) << " rep " << rep;
    }
    give_back.join();
    EXPECT_TRUE(done.load());
    EXPECT_FALSE(pool.core_lent());
  }
}

TEST(Matmul, RejectsBadShapesAndTypes) {
  ThreadPool pool(1);
  const Weights w = make_weights(DType::Q8_0, 4, 64, 1);
  std::vector<float> x(128), y(8);
  EXPECT_THROW(matmul(pool, x.data(), 1, 96, w.view, nullptr, y.data()), Error);  // K mismatch
  TensorView ints = w.view;
  ints.dtype = DType::I32;
  EXPECT_THROW(matmul(pool, x.data(), 1, 64, ints, nullptr, y.data()), Error);
  EXPECT_FALSE(matmul_supports(DType::I32));
  TensorView truncated = w.view;
  truncated.nbytes -= 1;
  EXPECT_THROW(matmul(pool, x.data(), 1, 64, truncated, nullptr, y.data()), Error);
}

TEST(Sgemm, BothLayoutsWithStridesAlphaBeta) {
  const int64_t M = 5, N = 7, K = 9, lda = 11, ldb = 13, ldc = 10;
  const auto A = random_floats(static_cast<size_t>(M * lda), 1);
  const auto B = random_floats(static_cast<size_t>(std::max(K, N) * ldb), 2);
  const auto C0 = random_floats(static_cast<size_t>(M * ldc), 3);
  for (bool bt : {false, true}) {
    auto C = C0;
    sgemm(bt, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.f, C.data(), ldc);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += double(A[m * lda + k]) * (bt ? B[n * ldb + k] : B[k * ldb + n]);
        EXPECT_NEAR(C[m * ldc + n], 0.5 * s + 2.0 * C0[m * ldc + n], 1e-4) << bt << " " << m << " " << n;
      }
    for (int64_t m = 0; m < M; ++m)  // columns past N are untouched
      for (int64_t n = N; n < ldc; ++n) EXPECT_EQ(C[m * ldc + n], C0[m * ldc + n]);
  }
}

TEST(CpuLevel, EnvironmentLowersTheLevel) {
  {
    testing::ScopedCpuLevel cpu("scalar");
    EXPECT_STREQ(cpu_level(), "scalar");
  }
  {
    testing::ScopedCpuLevel cpu("avx2");
    EXPECT_STREQ(cpu_level(), "avx2");
  }
  testing::ScopedCpuLevel cpu("");
  const std::string native = cpu_level();
  EXPECT_TRUE(native == "avx512" || native == "avx2") << native;
}

}  // namespace
}  // namespace mnemo::kernels

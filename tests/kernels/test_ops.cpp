// Row and element-wise operators against double-precision formulas, with odd sizes (vector
// tails) and 1..3 threads.
#include <cmath>

#include "kernel_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/ops.h"
#include "mnemo/kernels/quant.h"

namespace mnemo::kernels {
namespace {

using testing::random_floats;

class OpsThreads : public ::testing::TestWithParam<int> {};

TEST_P(OpsThreads, LayerNormWithAndWithoutBiasAndInPlace) {
  ThreadPool pool(GetParam());
  const int64_t rows = 7, n = 83;
  auto x = random_floats(rows * n, 1, 3.f);
  for (auto& v : x) v += 5.f;  // a large mean: a one-pass variance would lose digits
  const auto w = random_floats(n, 2), b = random_floats(n, 3);
  for (const float* bias : {static_cast<const float*>(nullptr), b.data()}) {
    std::vector<double> want(rows * n);
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < n; ++i) mean += x[r * n + i];
      mean /= n;
      for (int64_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
      var /= n;
      for (int64_t i = 0; i < n; ++i)
        want[r * n + i] = (x[r * n + i] - mean) / std::sqrt(var + 1e-5) * w[i] + (bias ? bias[i] : 0.0);
    }
    std::vector<float> y(rows * n);
    layer_norm(pool, x.data(), w.data(), bias, rows, n, 1e-5f, y.data());
    EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 2e-6);
    auto inplace = x;
    layer_norm(pool, inplace.data(), w.data(), bias, rows, n, 1e-5f, inplace.data());
    EXPECT_EQ(inplace, y);
  }
}

TEST_P(OpsThreads, RmsNorm) {
  ThreadPool pool(GetParam());
  const int64_t rows = 5, n = 45;
  const auto x = random_floats(rows * n, 4), w = random_floats(n, 5);
  std::vector<double> want(rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t i = 0; i < n; ++i) ms += double(x[r * n + i]) * x[r * n + i];
    ms /= n;
    for (int64_t i = 0; i < n; ++i) want[r * n + i] = x[r * n + i] / std::sqrt(ms + 1e-6) * w[i];
  }
  std::vector<float> y(rows * n);
  rms_norm(pool, x.data(), w.data(), rows, n, 1e-6f, y.data());
  EXPECT_LT(testing::max_rel_error(y.data(), want.data(), want.size()), 2e-6);
}

double activation_reference(Activation kind, double x) {
  switch (kind) {
    case Activation::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::GeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::Silu: return x / (1 + std::exp(-x));
    case Activation::Relu: return x > 0 ? x : 0;
  }
  return 0;
}

TEST_P(OpsThreads, ActivationsAndGatedUnits) {
  ThreadPool pool(GetParam());
  const int64_t n = 20011;  // above the parallel grain, with a vector tail
  auto x = random_floats(n, 6, 4.f);
  x[0] = -100.f;  // exp overflow side of the sigmoid forms
  x[1] = 100.f;
  x[2] = 0.f;
  const auto up = random_floats(n, 7);
  for (Activation kind : {Activation::GeluTanh, Activation::GeluErf, Activation::Silu, Activation::Relu}) {
    std::vector<double> want(n), want_gated(n);
    for (int64_t i = 0; i < n; ++i) {
      want[i] = activation_reference(kind, x[i]);
      want_gated[i] = want[i] * up[i];
    }
    auto y = x;
    activate(pool, kind, y.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(y[i], want[i], 2e-6 * std::max(1.0, std::fabs(want[i]))) << int(kind) << " x=" << x[i];
    std::vector<float> g(n);
    gated(pool, kind, x.data(), up.data(), g.data(), n);
    for (int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(g[i], want_gated[i], 2e-6 * std::max(1.0, std::fabs(want_gated[i]))) << int(kind);
  }
}

TEST_P(OpsThreads, AddAndRopeBothModes) {
  ThreadPool pool(GetParam());
  const int64_t n = 40003;
  auto y = random_floats(n, 8);
  const auto x = random_floats(n, 9), y0 = y;
  add(pool, y.data(), x.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], y0[i] + x[i]);

  const int64_t T = 5, H = 3, D = 12, n_rot = 8;  // partial rotary: last 4 dims untouched
  const std::vector<int32_t> pos = {0, 1, 7, 300, 4095};
  for (RopeMode mode : {RopeMode::Interleaved, RopeMode::NeoX}) {
    auto v = random_floats(T * H * D, 10);
    const auto v0 = v;
    rope(pool, v.data(), T, H, D, n_rot, pos.data(), 10000.f, mode);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* a = v0.data() + (t * H + h) * D;
        const float* r = v.data() + (t * H + h) * D;
        for (int64_t i = 0; i < n_rot / 2; ++i) {
          const double ang = pos[t] * std::pow(10000.0, -2.0 * i / n_rot);
          const int64_t i0 = mode == RopeMode::Interleaved ? 2 * i : i;
          const int64_t i1 = mode == RopeMode::Interleaved ? 2 * i + 1 : i + n_rot / 2;
          EXPECT_NEAR(r[i0], a[i0] * std::cos(ang) - a[i1] * std::sin(ang), 1e-5);
          EXPECT_NEAR(r[i1], a[i0] * std::sin(ang) + a[i1] * std::cos(ang), 1e-5);
        }
        for (int64_t i = n_rot; i < D; ++i) EXPECT_EQ(r[i], a[i]);
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, OpsThreads, ::testing::Values(1, 2, 3));

TEST(Ops, SoftmaxRowsIncludingMaskedEntries) {
  const int64_t rows = 3, n = 19;
  auto x = random_floats(rows * n, 11, 5.f);
  x[2] = -INFINITY;                                           // masked entry in row 0
  for (int64_t i = 0; i < n; ++i) x[2 * n + i] = -INFINITY;   // fully masked row 2
  const auto x0 = x;
  softmax_rows(x.data(), rows, n);
  for (int64_t r = 0; r < 2; ++r) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(x0[r * n + i]));
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x0[r * n + i] - mx);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(x[r * n + i], std::exp(x0[r * n + i] - mx) / sum, 1e-6);
  }
  EXPECT_EQ(x[2], 0.f);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[2 * n + i], 0.f);
}

TEST(Ops, EmbeddingDecodesEveryTableTypeAndRejectsBadIds) {
  const int64_t vocab = 6, d = 64;
  const auto f = random_floats(vocab * d, 12);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_1}) {
    const uint64_t rb = *row_bytes(t, d);
    std::vector<uint8_t> table(rb * vocab);
    for (int64_t r = 0; r < vocab; ++r) quantize_row(t, f.data() + r * d, table.data() + r * rb, d);
    TensorView view;
    view.dtype = t;
    view.ndim = 2;
    view.shape = {vocab, d, 0, 0};
    view.data = table.data();
    view.nbytes = table.size();
    const std::vector<int32_t> ids = {5, 0, 5, 2};
    std::vector<float> out(ids.size() * d), want(d);
    embedding(view, ids.data(), static_cast<int64_t>(ids.size()), out.data());
    for (size_t i = 0; i < ids.size(); ++i) {
      dequantize_row(t, table.data() + ids[i] * rb, want.data(), d);
      for (int64_t k = 0; k < d; ++k) ASSERT_EQ(out[i * d + k], want[k]) << dtype_name(t);
    }
    const int32_t bad[] = {6};
    const int32_t negative[] = {-1};
    EXPECT_THROW(embedding(view, bad, 1, out.data()), Error);
    EXPECT_THROW(embedding(view, negative, 1, out.data()), Error);
  }
}

}  // namespace
}  // namespace mnemo::kernels

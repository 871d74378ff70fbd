// Implicit attention of Mamba-1 (per channel, and the mean over channels) and Mamba-2 (per head)
// against the engine's own scans: one-hot inputs give the map's columns (Mamba-1: one copy of a
// channel per column, fed e_j; Mamba-2: head dim P = T with x_t = e_t), and the map times random
// inputs gives the scan's output without its D·x skip.
#include <gtest/gtest.h>

#include "family_test_util.h"
#include "implicit_map_util.h"
#include "mnemo/kernels/ssm.h"

namespace mnemo {
namespace {

using kernels::testing::normal;
using kernels::testing::rel_error;
using kernels::testing::uniform;
using profiler::TileRange;

constexpr double kTolerance = 1e-5;

struct Mamba1Layer {
  int64_t T, D = 6, N = 8, G = 3;  // two channels per group
  std::vector<float> delta, A, B, C;
  explicit Mamba1Layer(int64_t T_) : T(T_) {
    delta = uniform(T * D, 61, 0.01f, 0.6f), A = uniform(D * N, 62, -2.f, -0.05f);
    B = normal(T * G * N, 63), C = normal(T * G * N, 64);
  }
  profiler::Mamba1Factors factors() const { return {delta.data(), A.data(), B.data(), C.data(), D, N, G}; }
};

// Channel d's map from the scan: T copies of channel d (with its group's B and C), copy c fed
// x_t = [t == c]. Returns [T][T].
std::vector<float> scan_map(const Mamba1Layer& m, int64_t d) {
  const int64_t T = m.T, g = d / (m.D / m.G);
  std::vector<float> x(T * T, 0.f), delta(T * T), A(T * m.N), state(T * m.N, 0.f), out(T * T), B(T * m.N), C(T * m.N);
  for (int64_t t = 0; t < T; ++t) {
    std::copy_n(&m.B[(t * m.G + g) * m.N], m.N, &B[t * m.N]);
    std::copy_n(&m.C[(t * m.G + g) * m.N], m.N, &C[t * m.N]);
  }
  for (int64_t c = 0; c < T; ++c) {
    x[c * T + c] = 1.f;
    std::copy_n(&m.A[d * m.N], m.N, &A[c * m.N]);
    for (int64_t t = 0; t < T; ++t) delta[t * T + c] = m.delta[t * m.D + d];
  }
  kernels::SelectiveScanArgs a;
  a.x = x.data(), a.delta = delta.data(), a.A = A.data(), a.B = B.data(), a.C = C.data();
  a.T = T, a.D = T, a.N = m.N, a.G = 1, a.state = state.data(), a.out = out.data();
  ThreadPool pool(2);
  kernels::selective_scan(pool, a);
  return out;  // out[i][c] = A_d[i][c]
}

TEST(Mamba1ImplicitAttention, OneHotInputsGiveEachChannelsColumns) {
  const Mamba1Layer m(150);
  const auto f = m.factors();
  // The mean over every channel, and over channels 1..4 (a head of channels that starts inside a
  // group and spans groups).
  std::vector<float> mean(m.T * m.T, 0.f), mean_1_5(m.T * m.T, 0.f);
  for (int64_t d = 0; d < m.D; ++d) {
    const auto want = scan_map(m, d);
    for (size_t x = 0; x < want.size(); ++x) mean[x] += want[x] / static_cast<float>(m.D);
    if (d >= 1 && d < 5)
      for (size_t x = 0; x < want.size(); ++x) mean_1_5[x] += want[x] / 4.f;
    for (const int64_t tile : {256, 40}) {
      const auto got = testing::map_from_tiles(
          [&](const TileRange& t, float* out, int64_t ld) { profiler::mamba1_implicit_attention(f, d, t, out, ld); }, 0,
          m.T, 0, m.T, tile);
      EXPECT_LT(rel_error(got, want), kTolerance) << "channel " << d << " tile " << tile;
    }
  }
  const auto got_mean = testing::map_from_tiles(
      [&](const TileRange& t, float* out, int64_t ld) { profiler::mamba1_mean_implicit_attention(f, 0, m.D, t, out, ld); },
      0, m.T, 0, m.T, 64);
  EXPECT_LT(rel_error(got_mean, mean), kTolerance);
  for (const int64_t tile : {256, 40}) {
    const auto got = testing::map_from_tiles(
        [&](const TileRange& t, float* out, int64_t ld) { profiler::mamba1_mean_implicit_attention(f, 1, 5, t, out, ld); },
        0, m.T, 0, m.T, tile);
    EXPECT_LT(rel_error(got, mean_1_5), kTolerance) << "tile " << tile;
  }
}

TEST(Mamba1ImplicitAttention, MapTimesInputsGivesTheOutput) {
  const Mamba1Layer m(120);
  const auto x = normal(m.T * m.D, 65);
  std::vector<float> state(m.D * m.N, 0.f), y(m.T * m.D);
  kernels::SelectiveScanArgs a;
  a.x = x.data(), a.delta = m.delta.data(), a.A = m.A.data(), a.B = m.B.data(), a.C = m.C.data();
  a.T = m.T, a.D = m.D, a.N = m.N, a.G = m.G, a.state = state.data(), a.out = y.data();
  ThreadPool pool(2);
  kernels::selective_scan(pool, a);
  const auto f = m.factors();
  std::vector<float> mixed(y.size(), 0.f);
  for (int64_t d = 0; d < m.D; ++d) {
    const auto map = testing::map_from_tiles(
        [&](const TileRange& t, float* out, int64_t ld) { profiler::mamba1_implicit_attention(f, d, t, out, ld); }, 0,
        m.T, 0, m.T, 50);
    for (int64_t i = 0; i < m.T; ++i)
      for (int64_t j = 0; j <= i; ++j) mixed[i * m.D + d] += map[i * m.T + j] * x[j * m.D + d];
  }
  EXPECT_LT(rel_error(mixed, y), kTolerance);
}

struct Mamba2Layer {
  int64_t T, H = 4, N = 16, G = 2;
  std::vector<float> dt, A, B, C;
  explicit Mamba2Layer(int64_t T_) : T(T_) {
    dt = uniform(T * H, 71, 0.01f, 0.5f), A = uniform(H, 72, -3.f, -0.2f);
    B = normal(T * G * N, 73), C = normal(T * G * N, 74);
  }
  profiler::Mamba2Factors factors() const { return {dt.data(), A.data(), B.data(), C.data(), H, N, G}; }
  // The SSD over inputs x [T][H][P] from a zero state, no skip; returns y [T][H][P].
  std::vector<float> run(const std::vector<float>& x, int64_t P) const {
    std::vector<float> state(H * P * N, 0.f), out(T * H * P);
    kernels::SsdArgs a;
    a.x = x.data(), a.dt = dt.data(), a.A = A.data(), a.B = B.data(), a.C = C.data();
    a.T = T, a.H = H, a.P = P, a.N = N, a.G = G, a.state = state.data(), a.out = out.data();
    ThreadPool pool(2);
    kernels::ssd_recurrent(pool, a);
    return out;
  }
};

TEST(Mamba2ImplicitAttention, OneHotInputsGiveTheColumns) {
  const Mamba2Layer m(200);
  std::vector<float> x(m.T * m.H * m.T, 0.f);  // head dim P = T, x_t = e_t
  for (int64_t t = 0; t < m.T; ++t)
    for (int64_t h = 0; h < m.H; ++h) x[(t * m.H + h) * m.T + t] = 1.f;
  const auto y = m.run(x, m.T);
  const auto f = m.factors();
  for (int64_t h = 0; h < m.H; ++h) {
    std::vector<float> want(m.T * m.T);
    for (int64_t i = 0; i < m.T; ++i) std::copy_n(&y[(i * m.H + h) * m.T], m.T, &want[i * m.T]);
    const auto got = testing::map_from_tiles(
        [&](const TileRange& t, float* out, int64_t ld) { profiler::mamba2_implicit_attention(f, h, t, out, ld); }, 0, m.T,
        0, m.T, 48);
    EXPECT_LT(rel_error(got, want), kTolerance) << "head " << h;
  }
}

TEST(Mamba2ImplicitAttention, MapTimesInputsGivesTheOutput) {
  const Mamba2Layer m(130);
  const int64_t P = 6;
  const auto x = normal(m.T * m.H * P, 75);
  const auto y = m.run(x, P);
  const auto f = m.factors();
  std::vector<float> mixed(y.size(), 0.f);
  for (int64_t h = 0; h < m.H; ++h) {
    const auto map = testing::map_from_tiles(
        [&](const TileRange& t, float* out, int64_t ld) { profiler::mamba2_implicit_attention(f, h, t, out, ld); }, 0, m.T,
        0, m.T, 256);
    for (int64_t i = 0; i < m.T; ++i)
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t p = 0; p < P; ++p) mixed[(i * m.H + h) * P + p] += map[i * m.T + j] * x[(j * m.H + h) * P + p];
  }
  EXPECT_LT(rel_error(mixed, y), kTolerance);
}

}  // namespace
}  // namespace mnemo

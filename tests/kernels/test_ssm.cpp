// Mamba kernels: SSD chunked against SSD recurrent over lengths around chunk boundaries, grouped
// B/C and a non-zero initial state; every kernel continued from its own state (prefill then
// decode steps, prefill in pieces) equals one call; small cases by hand. Against mamba_ssm's
// references and torch's conv1d: test_family_golden.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "family_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/ssm.h"

namespace mnemo::kernels {
namespace {

using testing::normal;
using testing::rel_error;
using testing::uniform;

constexpr double kTolerance = 1e-5;

struct SsdProblem {
  int64_t T, H, P = 8, N = 16, G;
  std::vector<float> x, dt, dt_bias, A, B, C, D_skip, state;
  explicit SsdProblem(int64_t T_, int64_t H_ = 4, int64_t G_ = 2) : T(T_), H(H_), G(G_) {
    x = normal(T * H * P, 11), dt = normal(T * H, 12), dt_bias = normal(H, 13, 0.5f);
    for (float& d : dt) d -= 1.f;
    A = uniform(H, 14, -2.f, -0.1f), B = normal(T * G * N, 15), C = normal(T * G * N, 16);
    D_skip = normal(H, 17), state = normal(H * P * N, 18, 0.5f);
  }
  SsdArgs args(int64_t t0, int64_t t1, float* st, float* out) const {
    SsdArgs a;
    a.x = x.data() + t0 * H * P, a.dt = dt.data() + t0 * H, a.dt_bias = dt_bias.data(), a.dt_softplus = true;
    a.A = A.data(), a.B = B.data() + t0 * G * N, a.C = C.data() + t0 * G * N, a.D_skip = D_skip.data();
    a.T = t1 - t0, a.H = H, a.P = P, a.N = N, a.G = G;
    a.state = st, a.out = out + t0 * H * P;
    return a;
  }
};

// heads: 4 fill the 2-thread pool; 1 does not (its chunks then run in parallel).
class SsdChunked : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t>> {};

TEST_P(SsdChunked, EqualsRecurrent) {
  const auto [T, chunk, heads] = GetParam();
  const SsdProblem p(T, heads, heads == 1 ? 1 : 2);
  ThreadPool pool(2);
  std::vector<float> s_rec = p.state, s_chk = p.state, o_rec(T * p.H * p.P), o_chk(o_rec.size(), NAN);
  ssd_recurrent(pool, p.args(0, T, s_rec.data(), o_rec.data()));
  ssd_chunked(pool, p.args(0, T, s_chk.data(), o_chk.data()), chunk);
  EXPECT_LT(rel_error(o_chk, o_rec), kTolerance);
  EXPECT_LT(rel_error(s_chk, s_rec), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Lengths, SsdChunked,
                         ::testing::Combine(::testing::Values(1, 7, 64, 65, 200), ::testing::Values(64, 16),
                                            ::testing::Values(4, 1)),
                         [](const auto& info) {
                           return "T" + std::to_string(std::get<0>(info.param)) + "_chunk" +
                                  std::to_string(std::get<1>(info.param)) + "_heads" +
                                  std::to_string(std::get<2>(info.param));
                         });

TEST(Ssd, DecodeContinuesChunkedPrefillAndPiecesEqualOnce) {
  const int64_t T = 140;
  const SsdProblem p(T);
  ThreadPool pool(2);
  std::vector<float> s_all = p.state, o_all(T * p.H * p.P);
  ssd_recurrent(pool, p.args(0, T, s_all.data(), o_all.data()));
  std::vector<float> s_steps = p.state, o_steps(o_all.size(), NAN);
  ssd_chunked(pool, p.args(0, 137, s_steps.data(), o_steps.data()));
  for (int64_t t = 137; t < T; ++t) ssd_recurrent(pool, p.args(t, t + 1, s_steps.data(), o_steps.data()));
  EXPECT_LT(rel_error(o_steps, o_all), kTolerance);
  EXPECT_LT(rel_error(s_steps, s_all), kTolerance);
  std::vector<float> s_two = p.state, o_two(o_all.size(), NAN);
  ssd_chunked(pool, p.args(0, 90, s_two.data(), o_two.data()));
  ssd_chunked(pool, p.args(90, T, s_two.data(), o_two.data()));
  EXPECT_LT(rel_error(o_two, o_all), kTolerance);
  EXPECT_LT(rel_error(s_two, s_all), kTolerance);
}

struct ScanProblem {
  int64_t T, D, N, G;
  std::vector<float> x, delta, delta_bias, A, B, C, D_skip, z, state;
  explicit ScanProblem(int64_t T_, int64_t D_ = 12, int64_t N_ = 8, int64_t G_ = 3) : T(T_), D(D_), N(N_), G(G_) {
    x = normal(T * D, 21), delta = normal(T * D, 22), delta_bias = normal(D, 23, 0.5f);
    A = uniform(D * N, 24, -3.f, -0.1f), B = normal(T * G * N, 25), C = normal(T * G * N, 26);
    D_skip = normal(D, 27), z = normal(T * D, 28), state = normal(D * N, 29, 0.5f);
  }
  SelectiveScanArgs args(int64_t t0, int64_t t1, float* st, float* out) const {
    SelectiveScanArgs a;
    a.x = x.data() + t0 * D, a.delta = delta.data() + t0 * D, a.delta_bias = delta_bias.data();
    a.delta_softplus = true, a.A = A.data(), a.B = B.data() + t0 * G * N, a.C = C.data() + t0 * G * N;
    a.D_skip = D_skip.data(), a.z = z.data() + t0 * D;
    a.T = t1 - t0, a.D = D, a.N = N, a.G = G, a.state = st, a.out = out + t0 * D;
    return a;
  }
};

TEST(SelectiveScan, StepsAndPiecesEqualOneCall) {
  const int64_t T = 77;
  const ScanProblem p(T);
  ThreadPool pool(2);
  std::vector<float> s_all = p.state, o_all(T * p.D);
  selective_scan(pool, p.args(0, T, s_all.data(), o_all.data()));
  std::vector<float> s_parts = p.state, o_parts(o_all.size(), NAN);
  selective_scan(pool, p.args(0, 40, s_parts.data(), o_parts.data()));
  selective_scan(pool, p.args(40, 75, s_parts.data(), o_parts.data()));
  for (int64_t t = 75; t < T; ++t) selective_scan(pool, p.args(t, t + 1, s_parts.data(), o_parts.data()));
  EXPECT_EQ(o_parts, o_all);  // the same operations in the same order
  EXPECT_EQ(s_parts, s_all);
}

// The kernel takes eight channels of one group at a time through AVX2 and the others one by one:
// both against the recurrence in double. D = 44 in blocks of 32 leaves a partial group of 8 and
// 4 single channels; G = 2 (22 channels a group) puts groups of 8 across a group's edge, which
// must go one by one; N = 80 is past the vector path's state limit.
TEST(SelectiveScan, EveryChannelMatchesTheRecurrenceInDouble) {
  for (const auto& [D, N, G] : {std::tuple<int64_t, int64_t, int64_t>{44, 16, 1}, {44, 16, 2}, {16, 80, 1}}) {
    const int64_t T = 50;
    const ScanProblem p(T, D, N, G);
    std::vector<float> state = p.state, out(T * D, NAN);
    ThreadPool pool(2);
    selective_scan(pool, p.args(0, T, state.data(), out.data()));
    std::vector<double> h(p.state.begin(), p.state.end());
    std::vector<float> expected(T * D), expected_state(D * N);
    for (int64_t d = 0; d < D; ++d) {
      const int64_t g = d / (D / G);
      for (int64_t t = 0; t < T; ++t) {
        const double raw = double{p.delta[t * D + d]} + p.delta_bias[d];
        const double dt = raw > 20 ? raw : std::log1p(std::exp(raw)), x = p.x[t * D + d];
        double y = 0;
        for (int64_t n = 0; n < N; ++n) {
          double& hn = h[d * N + n];
          hn = std::exp(dt * p.A[d * N + n]) * hn + dt * p.B[(t * G + g) * N + n] * x;
          y += p.C[(t * G + g) * N + n] * hn;
        }
        const double z = p.z[t * D + d];
        expected[t * D + d] = static_cast<float>((y + p.D_skip[d] * x) * z / (1 + std::exp(-z)));
      }
    }
    for (int64_t i = 0; i < D * N; ++i) expected_state[i] = static_cast<float>(h[i]);
    EXPECT_LT(rel_error(out, expected), kTolerance) << "D=" << D << " N=" << N << " G=" << G;
    EXPECT_LT(rel_error(state, expected_state), kTolerance) << "D=" << D << " N=" << N << " G=" << G;
  }
}

// One channel, N = 1, two tokens: h1 = Δ1 B1 x1, h2 = exp(Δ2 A) h1 + Δ2 B2 x2, y = C h + D x, · silu(z).
TEST(SelectiveScan, TwoTokensByHand) {
  const float x[] = {1.f, -2.f}, delta[] = {0.5f, 0.25f}, A[] = {-1.5f}, B[] = {2.f, 1.f}, C[] = {0.5f, 3.f};
  const float Dskip[] = {0.1f}, z[] = {1.f, -1.f};
  float state = 0.f, out[2];
  SelectiveScanArgs a;
  a.x = x, a.delta = delta, a.A = A, a.B = B, a.C = C, a.D_skip = Dskip, a.z = z;
  a.T = 2, a.D = 1, a.N = 1, a.state = &state, a.out = out;
  ThreadPool pool(1);
  selective_scan(pool, a);
  auto silu = [](float v) { return v / (1.f + std::exp(-v)); };
  const float h1 = 0.5f * 2.f * 1.f, h2 = std::exp(0.25f * -1.5f) * h1 + 0.25f * 1.f * -2.f;
  EXPECT_FLOAT_EQ(out[0], (0.5f * h1 + 0.1f * 1.f) * silu(1.f));
  EXPECT_FLOAT_EQ(out[1], (3.f * h2 + 0.1f * -2.f) * silu(-1.f));
  EXPECT_FLOAT_EQ(state, h2);
}

TEST(CausalConv1d, MatchesTheSumAndContinuesFromItsState) {
  const int64_t T = 9, D = 5, K = 4;
  const auto x = normal(T * D, 31), w = normal(D * K, 32), bias = normal(D, 33), s0 = normal((K - 1) * D, 34);
  ThreadPool pool(2);
  CausalConvArgs a;
  a.x = x.data(), a.weight = w.data(), a.bias = bias.data(), a.T = T, a.D = D, a.K = K;
  std::vector<float> state = s0, out(T * D);
  a.conv_state = state.data(), a.out = out.data();
  causal_conv1d(pool, a);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t d = 0; d < D; ++d) {
      double s = bias[d];
      for (int64_t i = 0; i < K; ++i) {
        const int64_t src = t - (K - 1) + i;  // negative: the state's rows, oldest first
        s += w[d * K + i] * (src < 0 ? s0[(src + K - 1) * D + d] : x[src * D + d]);
      }
      EXPECT_NEAR(out[t * D + d], s, 1e-5) << "t=" << t << " d=" << d;
    }
  for (int64_t i = 0; i < K - 1; ++i)
    for (int64_t d = 0; d < D; ++d) EXPECT_EQ(state[i * D + d], x[(T - K + 1 + i) * D + d]);

  // The same sequence as a prefill of 2 and single steps, with SiLU.
  std::vector<float> st_all = s0, o_all(T * D), st_steps = s0, o_steps(T * D, NAN);
  a.silu = true, a.conv_state = st_all.data(), a.out = o_all.data();
  causal_conv1d(pool, a);
  CausalConvArgs b = a;
  b.conv_state = st_steps.data();
  for (int64_t t0 = 0; t0 < T; t0 += t0 == 0 ? 2 : 1) {
    b.x = x.data() + t0 * D, b.out = o_steps.data() + t0 * D, b.T = t0 == 0 ? 2 : 1;
    causal_conv1d(pool, b);
  }
  EXPECT_EQ(o_steps, o_all);
  EXPECT_EQ(st_steps, st_all);
}

TEST(Ssd, RefusesBadGroups) {
  const SsdProblem p(4);
  std::vector<float> s = p.state, o(4 * p.H * p.P);
  SsdArgs a = p.args(0, 4, s.data(), o.data());
  a.G = 3;
  ThreadPool pool(1);
  EXPECT_THROW(ssd_chunked(pool, a), UsageError);
}

}  // namespace
}  // namespace mnemo::kernels

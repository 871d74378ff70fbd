// attention()'s row statistics and pooled map against probabilities computed here in double from
// the same q and k: entropy, mean distance, sink, effective keys (1/Σp²), and 4×4 max/sum cells.
// Both the one-row (decode) and the tiled (prefill) paths, every mask, several threads; the
// attention output must not change when they are asked for.
#include <algorithm>
#include <tuple>

#include "kernel_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/attention.h"

namespace mnemo::kernels {
namespace {

using testing::attention_args;
using testing::random_floats;
using Shape = testing::AttentionShape;

// q_pos0 on multiples of 4 (the pooled map needs it); tiles with tails, several key blocks.
const Shape kShapes[] = {
    {"decode", 1, 37, 4, 4, 16, 36},
    {"short_prefill", 5, 5, 2, 1, 8, 0},
    {"chunk_after_cache", 9, 40, 4, 2, 16, 28},
    {"tiled_with_tail", 100, 100, 3, 3, 64, 0},
    {"tiled_many_key_blocks_mqa", 130, 600, 4, 1, 32, 468},
    {"tiled_head_dim_80", 70, 70, 2, 2, 80, 0},
};

struct Reference {
  std::vector<double> p;  // [h][i][j]
  std::vector<double> entropy, distance, sink, effective_keys;  // [h][i]
};

bool visible(const AttentionArgs& a, int64_t i, int64_t j) {
  const int64_t pos = a.q_pos0 + i;
  if (a.mask == MaskKind::None) return true;
  if (j > pos) return false;
  return a.mask == MaskKind::Causal || pos - j < a.window;
}

Reference reference(const AttentionArgs& a) {
  Reference r;
  const int64_t H = a.n_heads, T = a.T_q, N = a.T_k, d = a.head_dim;
  r.p.assign(static_cast<size_t>(H * T * N), 0.0);
  for (auto* v : {&r.entropy, &r.distance, &r.sink, &r.effective_keys}) v->assign(static_cast<size_t>(H * T), 0.0);
  for (int64_t h = 0; h < H; ++h) {
    const float* K = a.k + (h / (H / a.n_kv_heads)) * a.kv_head_stride;
    for (int64_t i = 0; i < T; ++i) {
      std::vector<double> s(static_cast<size_t>(N), -INFINITY);
      double m = -INFINITY;
      for (int64_t j = 0; j < N; ++j) {
        if (!visible(a, i, j)) continue;
        double dot = 0;
        for (int64_t x = 0; x < d; ++x) dot += static_cast<double>(a.q[(i * H + h) * d + x]) * K[j * d + x];
        s[static_cast<size_t>(j)] = dot * a.scale;
        m = std::max(m, s[static_cast<size_t>(j)]);
      }
      if (m == -INFINITY) continue;
      double l = 0;
      for (double v : s) l += v == -INFINITY ? 0 : std::exp(v - m);
      double* p = r.p.data() + (h * T + i) * N;
      const size_t at = static_cast<size_t>(h * T + i);
      double squares = 0;
      for (int64_t j = 0; j < N; ++j) {
        if (s[static_cast<size_t>(j)] == -INFINITY) continue;
        p[j] = std::exp(s[static_cast<size_t>(j)] - m) / l;
        r.entropy[at] -= p[j] > 0 ? p[j] * std::log(p[j]) : 0;
        r.distance[at] += p[j] * static_cast<double>(a.q_pos0 + i - j);
        squares += p[j] * p[j];
      }
      r.effective_keys[at] = 1.0 / squares;
      r.sink[at] = p[0];
    }
  }
  return r;
}

struct Outputs {
  std::vector<float> out, lse, entropy, distance, sink, keys, pooled_max, pooled_sum;
};

Outputs run(ThreadPool& pool, AttentionArgs a, bool extras) {
  Outputs o;
  const size_t rows = static_cast<size_t>(a.n_heads * a.T_q);
  o.out.assign(static_cast<size_t>(a.T_q * a.n_heads * a.head_dim), NAN);
  o.lse.assign(rows, NAN);
  a.out = o.out.data();
  a.lse = o.lse.data();
  if (extras) {
    for (auto* v : {&o.entropy, &o.distance, &o.sink, &o.keys}) v->assign(rows, NAN);
    a.row_stats = {o.entropy.data(), o.distance.data(), o.sink.data(), o.keys.data()};
    const size_t cells = static_cast<size_t>(a.n_heads * ((a.T_q + 3) / 4) * ((a.T_k + 3) / 4));
    o.pooled_max.assign(cells, NAN);
    o.pooled_sum.assign(cells, NAN);
    a.pooled = {o.pooled_max.data(), o.pooled_sum.data()};
  }
  attention(pool, a);
  return o;
}

void check_against_reference(const AttentionArgs& a, const Outputs& o) {
  const Reference r = reference(a);
  const int64_t H = a.n_heads, T = a.T_q, N = a.T_k;
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < T; ++i) {
      const size_t at = static_cast<size_t>(h * T + i);
      SCOPED_TRACE("head " + std::to_string(h) + " row " + std::to_string(i));
      EXPECT_NEAR(o.entropy[at], r.entropy[at], 2e-5 * std::max(1.0, r.entropy[at]));
      // p is computed in float, each off by ~1e-6 relative, weighted by distances up to T_k.
      EXPECT_NEAR(o.distance[at], r.distance[at], 2e-6 * static_cast<double>(N) + 1e-5 * std::fabs(r.distance[at]));
      EXPECT_NEAR(o.sink[at], r.sink[at], 1e-6 + 1e-5 * r.sink[at]);
      EXPECT_NEAR(o.keys[at], r.effective_keys[at], 1e-5 * r.effective_keys[at]);
    }
  const int64_t R = (T + 3) / 4, C = (N + 3) / 4;
  for (int64_t h = 0; h < H; ++h)
    for (int64_t rc = 0; rc < R; ++rc)
      for (int64_t c = 0; c < C; ++c) {
        double mx = 0, sum = 0;
        for (int64_t i = rc * 4; i < std::min(T, rc * 4 + 4); ++i)
          for (int64_t j = c * 4; j < std::min(N, c * 4 + 4); ++j) {
            const double p = r.p[static_cast<size_t>((h * T + i) * N + j)];
            mx = std::max(mx, p), sum += p;
          }
        const size_t at = static_cast<size_t>((h * R + rc) * C + c);
        ASSERT_NEAR(o.pooled_max[at], mx, 1e-7 + 1e-5 * mx) << "head " << h << " cell " << rc << "," << c;
        ASSERT_NEAR(o.pooled_sum[at], sum, 1e-7 + 1e-5 * sum) << "head " << h << " cell " << rc << "," << c;
      }
}

using StatsCase = std::tuple<Shape, MaskKind, int>;

std::string stats_case_name(const ::testing::TestParamInfo<StatsCase>& info) {
  static const char* const masks[] = {"none", "causal", "window"};
  return std::string(std::get<0>(info.param).name) + "_" + masks[static_cast<int>(std::get<1>(info.param))] + "_t" +
         std::to_string(std::get<2>(info.param));
}

class AttentionStatsGrid : public ::testing::TestWithParam<StatsCase> {};

TEST_P(AttentionStatsGrid, MatchReferenceAndLeaveTheOutputAlone) {
  const auto& [s, mask, threads] = GetParam();
  ThreadPool pool(threads);
  const int64_t stride = (s.T_k + 3) * s.head_dim;
  const auto q = random_floats(s.T_q * s.n_heads * s.head_dim, 1, 1.5f);
  const auto k = random_floats(s.n_kv_heads * stride, 2, 1.5f);
  const auto v = random_floats(s.n_kv_heads * stride, 3);
  const AttentionArgs a = attention_args(s, mask, q, k, v, stride);
  const Outputs plain = run(pool, a, false), with = run(pool, a, true);
  EXPECT_EQ(with.out, plain.out);
  EXPECT_EQ(with.lse, plain.lse);
  check_against_reference(a, with);
}

INSTANTIATE_TEST_SUITE_P(Grid, AttentionStatsGrid,
                         ::testing::Combine(::testing::ValuesIn(kShapes),
                                            ::testing::Values(MaskKind::None, MaskKind::Causal, MaskKind::Window),
                                            ::testing::Values(1, 3)),
                         stats_case_name);

TEST(AttentionStats, MaxRisingAcrossKeyBlocksRescalesTheMoments) {
  // Keys grow along the sequence, so each 256-key block holds a larger max than the one before and
  // every moment is rescaled several times per row.
  const Shape s{"rising", 64, 1100, 1, 1, 8, 1036};
  const int64_t stride = s.T_k * s.head_dim;
  auto q = random_floats(s.T_q * s.head_dim, 4, 0.2f);
  for (int64_t i = 0; i < s.T_q; ++i) q[static_cast<size_t>(i * s.head_dim)] = 4.f;
  auto k = random_floats(stride, 5, 0.5f);
  for (int64_t j = 0; j < s.T_k; ++j) k[static_cast<size_t>(j * s.head_dim)] = static_cast<float>(j) / 40.f;
  const auto v = random_floats(stride, 6);
  const AttentionArgs a = attention_args(s, MaskKind::Causal, q, k, v, stride);
  ThreadPool pool(2);
  check_against_reference(a, run(pool, a, true));
}

TEST(AttentionStats, FlatRowsSpreadOverEveryKey) {
  // Equal scores: every key holds the same mass, so the effective keys are all n of them.
  const Shape s{"flat", 70, 300, 2, 1, 4, 0};
  const std::vector<float> q(static_cast<size_t>(s.T_q * s.n_heads * s.head_dim), 0.f);
  const auto k = random_floats(s.T_k * s.head_dim, 7), v = random_floats(s.T_k * s.head_dim, 8);
  const AttentionArgs a = attention_args(s, MaskKind::None, q, k, v, s.T_k * s.head_dim);
  ThreadPool pool(1);
  const Outputs o = run(pool, a, true);
  for (float keys : o.keys) EXPECT_NEAR(keys, 300.f, 1e-3);
  for (float e : o.entropy) EXPECT_NEAR(e, std::log(300.0), 1e-5);
}

TEST(AttentionStats, PooledMapNeedsAlignedFirstQuery) {
  const auto q = random_floats(8, 1), k = random_floats(80, 2), v = random_floats(80, 3);
  std::vector<float> out(8), mx(10), sum(10);
  AttentionArgs a;
  a.q = q.data(), a.k = k.data(), a.v = v.data();
  a.kv_head_stride = 80;
  a.T_q = 1, a.T_k = 10;
  a.n_heads = a.n_kv_heads = 1;
  a.head_dim = 8;
  a.q_pos0 = 9;
  a.scale = 0.3f;
  a.out = out.data();
  a.pooled = {mx.data(), sum.data()};
  ThreadPool pool(1);
  EXPECT_THROW(attention(pool, a), Error);
  a.pooled.sum = nullptr;
  a.q_pos0 = 8;
  EXPECT_THROW(attention(pool, a), Error);
}

}  // namespace
}  // namespace mnemo::kernels

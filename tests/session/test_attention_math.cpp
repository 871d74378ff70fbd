// The attention math shared by recorder and reader, against direct double-precision formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "mnemo/core/error.h"
#include "mnemo/core/visibility.h"
#include "mnemo/profiler/session/attention_math.h"

namespace mnemo::profiler {
namespace {

struct Problem {
  int d;
  std::vector<float> q, k;
  std::vector<QueryRow> rows;
};

Problem random_problem(int64_t n_rows, int64_t q_pos0, int64_t n_k, int d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.f, 1.f);
  Problem p{d, std::vector<float>(static_cast<size_t>(n_rows * d)), std::vector<float>(static_cast<size_t>(n_k * d)), {}};
  for (auto& x : p.q) x = 1.5f * g(rng);
  for (auto& x : p.k) x = 1.5f * g(rng);
  for (int64_t i = 0; i < n_rows; ++i) p.rows.push_back({q_pos0 + i, n_k, 0.f});
  return p;
}

double naive_logit(const Problem& p, int64_t i, int64_t j, float scale) {
  double s = 0;
  for (int t = 0; t < p.d; ++t) s += static_cast<double>(p.q[i * p.d + t]) * p.k[j * p.d + t];
  return s * scale;
}

struct MaskCase {
  AttentionMask kind;
  int64_t window;
};

class AttentionMath : public ::testing::TestWithParam<MaskCase> {};

TEST_P(AttentionMath, LogitsProbsAndEntropyMatchDoublePrecision) {
  const MaskSpec mask{GetParam().kind, GetParam().window};
  for (int d : {64, 32, 20}) {
    const int64_t n_rows = 37, q_pos0 = mask.kind == AttentionMask::None ? 0 : 50, n_k = q_pos0 + n_rows;
    Problem p = random_problem(n_rows, q_pos0, n_k, d, 7u + static_cast<uint32_t>(d));
    const float scale = 1.f / std::sqrt(static_cast<float>(d));
    std::vector<float> logits(static_cast<size_t>(n_rows * n_k));
    std::vector<double> entropies;
    attention_logits(p.q, p.rows, p.k, 0, n_k, d, scale, mask, logits.data());
    for (int64_t i = 0; i < n_rows; ++i) {
      // Reference softmax in double over the visible keys.
      double m = -INFINITY;
      for (int64_t j = 0; j < n_k; ++j)
        if (mask.visible(p.rows[i], j)) m = std::max(m, naive_logit(p, i, j, scale));
      double sum = 0;
      for (int64_t j = 0; j < n_k; ++j)
        if (mask.visible(p.rows[i], j)) sum += std::exp(naive_logit(p, i, j, scale) - m);
      const double lse = m + std::log(sum);
      double entropy = 0;
      for (int64_t j = 0; j < n_k; ++j)
        if (mask.visible(p.rows[i], j)) {
          const double pj = std::exp(naive_logit(p, i, j, scale) - lse);
          entropy -= pj * std::log(pj);
        }
      float* row = logits.data() + i * n_k;
      for (int64_t j = 0; j < n_k; ++j) {
        if (!mask.visible(p.rows[i], j)) ASSERT_EQ(row[j], -INFINITY) << i << "," << j;
        else ASSERT_NEAR(row[j], naive_logit(p, i, j, scale), 1e-4);
      }
      p.rows[i].lse = static_cast<float>(lse);
      entropies.push_back(entropy);
    }
    // attention_probs with each row's lse, over every key and over an offset column window.
    std::vector<float> all(static_cast<size_t>(n_rows * n_k));
    attention_probs(p.q, p.rows, p.k, 0, n_k, d, scale, mask, all.data());
    for (int64_t i = 0; i < n_rows; ++i) {
      for (int64_t j = 0; j < n_k; ++j) {
        const double want = mask.visible(p.rows[i], j) ? std::exp(naive_logit(p, i, j, scale) - p.rows[i].lse) : 0.0;
        ASSERT_NEAR(all[i * n_k + j], want, 2e-6 + 2e-5 * want) << "row " << i << " key " << j;
      }
      HeadMetricAccumulator acc;
      acc.add_row({all.data() + i * n_k, static_cast<size_t>(n_k)}, p.rows[i], mask);
      EXPECT_NEAR(acc.result().entropy, entropies[static_cast<size_t>(i)], 1e-4) << "row " << i;
    }
    const int64_t col0 = 13, cols = n_k - 20;
    std::vector<float> probs(static_cast<size_t>(n_rows * cols));
    attention_probs(p.q, p.rows, {p.k.data() + col0 * d, static_cast<size_t>(cols * d)}, col0, cols, d, scale, mask,
                    probs.data());
    for (int64_t i = 0; i < n_rows; ++i)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_NEAR(probs[i * cols + c], all[i * n_k + col0 + c], 1e-6 + 1e-5 * all[i * n_k + col0 + c]);
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, AttentionMath,
                         ::testing::Values(MaskCase{AttentionMask::Causal, 0}, MaskCase{AttentionMask::Window, 9},
                                           MaskCase{AttentionMask::None, 0}, MaskCase{AttentionMask::Segments, 16}),
                         [](const auto& info) { return std::string(mask_name(info.param.kind)); });

// The session's mask reading is the engine's definition (mnemo::visible), pair by pair.
TEST(AttentionMath, MaskSpecIsTheVisibilityFunction) {
  for (const MaskCase c : {MaskCase{AttentionMask::None, 0}, MaskCase{AttentionMask::Causal, 0},
                           MaskCase{AttentionMask::Window, 5}, MaskCase{AttentionMask::Segments, 7}}) {
    const MaskSpec spec{c.kind, c.window};
    const auto pattern = mask_pattern_from_name(mask_name(c.kind));
    ASSERT_TRUE(pattern) << mask_name(c.kind);
    const Mask mask{*pattern, c.window};
    for (int64_t q = 0; q < 30; ++q)
      for (int64_t j = 0; j < 30; ++j) {
        const QueryRow row{q, 30, 0.f};
        EXPECT_EQ(spec.visible(row, j), visible(mask, q, j, true)) << mask_name(c.kind) << " q " << q << " k " << j;
        if (spec.visible(row, j)) {
          EXPECT_TRUE(j >= spec.begin(row) && j < spec.end(row));
        }
      }
  }
}

TEST(AttentionMath, SingleRowPathMatchesBlockPath) {
  Problem p = random_problem(3, 100, 103, 64, 3);
  const MaskSpec mask{AttentionMask::Causal, 0};
  std::vector<float> together(3 * 103), alone(103);
  attention_logits(p.q, p.rows, p.k, 0, 103, 64, 0.125f, mask, together.data());
  for (int i = 0; i < 3; ++i) {
    attention_logits({p.q.data() + i * 64, 64}, {&p.rows[i], 1}, p.k, 0, 103, 64, 0.125f, mask, alone.data());
    for (int j = 0; j < 103; ++j) {
      if (std::isinf(together[i * 103 + j])) ASSERT_EQ(alone[j], together[i * 103 + j]);
      else ASSERT_NEAR(alone[j], together[i * 103 + j], 1e-5);
    }
  }
}

TEST(AttentionMath, HeadMetricsMatchDefinitions) {
  // Row at position 4 over keys 0..4: p = [0.5, 0.1, 0.1, 0.1, 0.2].
  const std::vector<float> p = {0.5f, 0.1f, 0.1f, 0.1f, 0.2f, 0.f};
  HeadMetricAccumulator acc;
  acc.add_row(p, {4, 6, 0.f}, {AttentionMask::Causal, 0});
  const HeadMetrics m = acc.result();
  double h = 0;
  for (int j = 0; j < 5; ++j) h -= p[j] * std::log(static_cast<double>(p[j]));
  EXPECT_NEAR(m.entropy, h, 1e-6);
  EXPECT_NEAR(m.mean_distance, 0.5 * 4 + 0.1 * 3 + 0.1 * 2 + 0.1 * 1, 1e-6);
  EXPECT_NEAR(m.sink_mass, 0.5, 1e-7);
  // Effective keys 1/Σp² = 1/(0.25 + 3·0.01 + 0.04) = 3.125 of the 5 visible ones.
  EXPECT_NEAR(m.sparsity, 1.0 - 3.125 / 5.0, 1e-6);
}

TEST(AttentionMath, PyramidMatchesBrutePooling) {
  const int64_t rows = 700, cols = 530;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> map(static_cast<size_t>(rows * cols));
  for (auto& x : map) x = u(rng);
  PyramidBuilder b(rows, cols, 1);
  for (int64_t r0 = 0; r0 < rows; r0 += 33) b.add_rows(r0, std::min<int64_t>(33, rows - r0), map.data() + r0 * cols, cols);
  const auto levels = b.finish();
  ASSERT_EQ(levels.front().level, 1);
  ASSERT_EQ(levels.back().level, 2);  // 700 / 4 = 175 cells fit one tile
  for (const PooledLevel& lv : levels) {
    const int64_t s = int64_t{1} << lv.level;
    ASSERT_EQ(lv.rows, (rows + s - 1) / s);
    for (int64_t r = 0; r < lv.rows; ++r)
      for (int64_t c = 0; c < lv.cols; ++c) {
        float mx = 0;
        double sum = 0;
        for (int64_t i = r * s; i < std::min(rows, (r + 1) * s); ++i)
          for (int64_t j = c * s; j < std::min(cols, (c + 1) * s); ++j) mx = std::max(mx, map[i * cols + j]), sum += map[i * cols + j];
        ASSERT_EQ(lv.max[r * lv.cols + c], mx);
        ASSERT_NEAR(lv.sum[r * lv.cols + c], sum, 1e-3);
        ASSERT_EQ(cells_inside(lv.level, r, c, rows, cols),
                  (std::min(rows, (r + 1) * s) - r * s) * (std::min(cols, (c + 1) * s) - c * s));
      }
  }
  const LevelRange one_tile = stored_levels(256, 10, 1);
  EXPECT_GT(one_tile.first, one_tile.last);  // one level-0 tile: nothing stored
  EXPECT_EQ(stored_levels(8192, 8192, 2).last, 5);
  EXPECT_EQ(stored_levels(8192, 8192, 2).first, 2);
  // A map whose overview fits below the first stored level stores that level alone.
  EXPECT_EQ(stored_levels(540, 540, 3).first, 3);
  EXPECT_EQ(stored_levels(540, 540, 3).last, 3);
  EXPECT_EQ(stored_levels(300, 300, 2).last, 2);
  EXPECT_EQ(stored_levels(2160, 2160, 3).last, 4);
  // finish() pools past the level that fits one tile up to the one asked for.
  PyramidBuilder small(rows, cols, 1);
  small.add_rows(0, rows, map.data(), cols);
  const auto upto4 = small.finish(4);
  ASSERT_EQ(upto4.back().level, 4);
  EXPECT_EQ(upto4.back().rows, (rows + 15) / 16);
  float top = 0;
  for (float v : map) top = std::max(top, v);
  EXPECT_EQ(*std::max_element(upto4.back().max.begin(), upto4.back().max.end()), top);
}

TEST(AttentionMath, TileCodecsRoundTripAndRejectDamage) {
  std::vector<float> v(256 * 100);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 97) / 97.f;
  for (TileCodec c : {TileCodec::F16, TileCodec::ZstdF16}) {
    const auto bytes = encode_tile(v, c);
    const auto back = decode_tile(bytes, c, static_cast<int64_t>(v.size()), "tile");
    for (size_t i = 0; i < v.size(); ++i) ASSERT_NEAR(back[i], v[i], 1e-3);
    auto cut = bytes;
    cut.resize(cut.size() / 2);
    EXPECT_THROW(decode_tile(cut, c, static_cast<int64_t>(v.size()), "tile"), mnemo::Error);
    EXPECT_THROW(decode_tile(bytes, c, static_cast<int64_t>(v.size()) + 1, "tile"), mnemo::Error);
  }
}

}  // namespace
}  // namespace mnemo::profiler

#include <gtest/gtest.h>

#include <map>

#include "mnemo/runtime/sampler.h"

namespace mnemo::rt {
namespace {

TEST(Sampler, GreedyTakesTheLargestAndLowestIdOnTies) {
  Sampler s({});
  EXPECT_EQ(s.sample(std::vector<float>{0.1f, 3.f, 2.f}), 1);
  EXPECT_EQ(s.sample(std::vector<float>{5.f, 1.f, 5.f}), 0);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> logits(100);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 7) * 0.3f;
  auto draw = [&](uint64_t seed) {
    Sampler s({1.0f, 0, 1.0f, seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 50; ++i) out.push_back(s.sample(logits));
    return out;
  };
  EXPECT_EQ(draw(7), draw(7));
  EXPECT_NE(draw(7), draw(8));
}

TEST(Sampler, TopKOneIsGreedy) {
  std::vector<float> logits{0.5f, 2.5f, 2.4f, -1.f};
  Sampler s({1.5f, 1, 1.0f, 3});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(s.sample(logits), 1);
}

TEST(Sampler, TopPKeepsOnlyTheNucleus) {
  // Probabilities at T=1: ~0.64, 0.24, 0.09, 0.03: top-p 0.7 keeps the first two.
  std::vector<float> logits{3.f, 2.f, 1.f, 0.f};
  Sampler s({1.0f, 0, 0.7f, 11});
  std::map<int32_t, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[s.sample(logits)];
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_EQ(seen.count(3), 0u);
  EXPECT_NEAR(seen[0] / 2000.0, 0.64 / 0.88, 0.04);
}

TEST(Sampler, TemperatureSharpensTheDistribution) {
  std::vector<float> logits{1.f, 0.f};
  auto share_of_first = [&](float temperature) {
    Sampler s({temperature, 0, 1.0f, 5});
    int first = 0;
    for (int i = 0; i < 4000; ++i) first += s.sample(logits) == 0;
    return first / 4000.0;
  };
  EXPECT_NEAR(share_of_first(1.0f), 0.731, 0.03);
  EXPECT_GT(share_of_first(0.25f), 0.95);
}

}  // namespace
}  // namespace mnemo::rt

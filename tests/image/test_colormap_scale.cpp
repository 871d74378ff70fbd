// Colormap tables and lookups, and the linear / log / rank scales.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/profiler/colormap.h"
#include "mnemo/profiler/scale.h"

using namespace mnemo::profiler;

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
}

TEST(Colormap, ViridisEndpoints) {
  const Colormap& v = colormap("viridis");
  const RgbF lo = v.entry(0), hi = v.entry(255);
  EXPECT_NEAR(lo.r, 0.267, 1e-3);
  EXPECT_NEAR(lo.g, 0.005, 1e-3);
  EXPECT_NEAR(lo.b, 0.329, 1e-3);
  EXPECT_NEAR(hi.r, 0.993, 1e-3);
  EXPECT_NEAR(hi.g, 0.906, 1e-3);
  EXPECT_NEAR(hi.b, 0.144, 1e-3);
  EXPECT_EQ(v.map(0.0f), (Rgb8{68, 1, 84}));     // round(0.267004 * 255) ...
  EXPECT_EQ(v.map(1.0f), (Rgb8{253, 231, 37}));
}

TEST(Colormap, EveryMapIsPresentAndSane) {
  const std::vector<std::string_view> want = {"cividis", "inferno", "magma", "plasma", "viridis"};
  EXPECT_EQ(colormap_names(), want);
  for (std::string_view name : want) {
    const Colormap* m = find_colormap(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_EQ(m->name(), name);
    // Perceptually uniform maps rise in lightness: the luma of the last entry beats the first.
    const auto luma = [](RgbF c) { return 0.2126f * c.r + 0.7152f * c.g + 0.0722f * c.b; };
    EXPECT_GT(luma(m->entry(255)), luma(m->entry(0)) + 0.5f) << name;
    for (int i = 0; i < Colormap::kSize; ++i) {
      const RgbF c = m->entry(i);
      for (float x : {c.r, c.g, c.b}) EXPECT_TRUE(x >= 0.0f && x <= 1.0f) << name << " " << i;
    }
  }
  EXPECT_NEAR(colormap("magma").entry(0).r, 0.001462, 1e-6);
  EXPECT_NEAR(colormap("inferno").entry(255).g, 0.998364, 1e-6);
  EXPECT_NEAR(colormap("cividis").entry(0).b, 0.304751, 1e-6);
}

TEST(Colormap, UnknownNameListsTheKnownOnes) {
  EXPECT_EQ(find_colormap("jet"), nullptr);
  try {
    colormap("jet");
    FAIL() << "no error";
  } catch (const mnemo::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("'jet'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("viridis"), std::string::npos);
  }
}

TEST(Colormap, IndexFollowsMatplotlib) {
  EXPECT_EQ(Colormap::index(0.0f), 0);
  EXPECT_EQ(Colormap::index(1.0f / 256 - 1e-7f), 0);
  EXPECT_EQ(Colormap::index(1.0f / 256), 1);
  EXPECT_EQ(Colormap::index(0.5f), 128);
  EXPECT_EQ(Colormap::index(std::nextafter(1.0f, 0.0f)), 255);
  EXPECT_EQ(Colormap::index(1.0f), 255);
  EXPECT_EQ(Colormap::index(-3.0f), 0);
  EXPECT_EQ(Colormap::index(7.0f), 255);
  EXPECT_EQ(Colormap::index(kNaN), 0);
}

TEST(Scale, LinearRangeAndClamp) {
  const std::vector<float> v = {2, 4, 6, kNaN, 10};
  const auto auto_range = normalize_linear(v);
  EXPECT_FLOAT_EQ(auto_range[0], 0.0f);
  EXPECT_FLOAT_EQ(auto_range[1], 0.25f);
  EXPECT_FLOAT_EQ(auto_range[4], 1.0f);
  EXPECT_TRUE(std::isnan(auto_range[3]));
  const auto fixed = normalize_linear(v, 4.0f, 8.0f);
  EXPECT_FLOAT_EQ(fixed[0], 0.0f);  // clamped
  EXPECT_FLOAT_EQ(fixed[2], 0.5f);
  EXPECT_FLOAT_EQ(fixed[4], 1.0f);  // clamped
  for (float t : normalize_linear(std::vector<float>{3, 3, 3})) EXPECT_EQ(t, 0.0f);
  EXPECT_THROW(normalize_linear(v, 5.0f, 1.0f), mnemo::UsageError);
  EXPECT_THROW(normalize_linear(v, std::numeric_limits<float>::infinity(), {}), mnemo::UsageError);
}

TEST(Scale, LogFloor) {
  // Attention probabilities: decades map evenly; zero and anything under the floor sit at 0.
  const std::vector<float> v = {1e-6f, 1e-4f, 1e-2f, 1.0f, 0.0f, -0.5f, 1e-9f, kNaN};
  const auto t = normalize_log(v, 1e-6f);
  EXPECT_NEAR(t[0], 0.0f, 1e-6);
  EXPECT_NEAR(t[1], 1.0f / 3, 1e-6);
  EXPECT_NEAR(t[2], 2.0f / 3, 1e-6);
  EXPECT_NEAR(t[3], 1.0f, 1e-6);
  EXPECT_EQ(t[4], 0.0f);
  EXPECT_EQ(t[5], 0.0f);
  EXPECT_EQ(t[6], 0.0f);
  EXPECT_TRUE(std::isnan(t[7]));
  // A higher floor lifts the bottom of the range: 1e-4 is now the lowest value.
  const auto t2 = normalize_log(v, 1e-4f);
  EXPECT_EQ(t2[0], 0.0f);
  EXPECT_EQ(t2[1], 0.0f);
  EXPECT_NEAR(t2[2], 0.5f, 1e-6);
  // An explicit range is floored too.
  const auto t3 = normalize_log(v, 1e-2f, 0.0f, 1.0f);
  EXPECT_EQ(t3[1], 0.0f);
  EXPECT_EQ(t3[2], 0.0f);
  EXPECT_EQ(t3[3], 1.0f);
  EXPECT_THROW(normalize_log(v, 0.0f), mnemo::UsageError);
  EXPECT_THROW(normalize_log(v, -1.0f), mnemo::UsageError);
  EXPECT_THROW(normalize_log(v, kNaN), mnemo::UsageError);
  Scale s;
  s.kind = ScaleKind::Log;
  s.log_floor = 1e-6f;
  const auto via_scale = normalize(v, s);
  for (std::size_t i = 0; i + 1 < v.size(); ++i) EXPECT_EQ(via_scale[i], t[i]) << i;
  EXPECT_TRUE(std::isnan(via_scale.back()));
}

TEST(Scale, RankTiesShareTheirMeanRank) {
  const auto t = normalize_rank(std::vector<float>{3, 1, 3, 7, 2});
  EXPECT_EQ(t, (std::vector<float>{0.625f, 0.0f, 0.625f, 1.0f, 0.25f}));
  // Non-finite values are left out of the ranking.
  const auto u = normalize_rank(std::vector<float>{5, kNaN, 5, 1, std::numeric_limits<float>::infinity()});
  EXPECT_FLOAT_EQ(u[0], 0.75f);
  EXPECT_FLOAT_EQ(u[2], 0.75f);
  EXPECT_FLOAT_EQ(u[3], 0.0f);
  EXPECT_TRUE(std::isnan(u[1]));
  EXPECT_TRUE(std::isnan(u[4]));
  for (float x : normalize_rank(std::vector<float>{4, 4, 4, 4})) EXPECT_EQ(x, 0.5f);
  EXPECT_EQ(normalize_rank(std::vector<float>{9}), std::vector<float>{0.0f});
  EXPECT_TRUE(normalize_rank(std::vector<float>{}).empty());
  // Rank ignores magnitudes: an outlier does not squash the rest.
  const auto w = normalize_rank(std::vector<float>{1, 2, 3, 1e30f});
  EXPECT_FLOAT_EQ(w[1], 1.0f / 3);
}

TEST(Scale, KindNames) {
  EXPECT_EQ(scale_kind_from_name("linear"), ScaleKind::Linear);
  EXPECT_EQ(scale_kind_from_name("log"), ScaleKind::Log);
  EXPECT_EQ(scale_kind_from_name("rank"), ScaleKind::Rank);
  EXPECT_EQ(scale_kind_from_name("sqrt"), std::nullopt);
}

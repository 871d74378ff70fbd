#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/profiler/scale.h"
#include "mnemo/viz/color_scale.h"
#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {
namespace {

TEST(ColorScale, LinearMapsTheRangeOntoTheColormap) {
  ColorScale s;
  s.set_range(0.f, 2.f);
  EXPECT_FLOAT_EQ(s.position(0.f), 0.f);
  EXPECT_FLOAT_EQ(s.position(1.f), 0.5f);
  EXPECT_FLOAT_EQ(s.position(2.f), 1.f);
  EXPECT_FLOAT_EQ(s.position(5.f), 1.f);  // clamped
  EXPECT_TRUE(std::isnan(s.position(NAN)));
  const profiler::Rgb8 top = s.colormap().entry8(255), bottom = s.colormap().entry8(0);
  EXPECT_EQ(s.color(2.f), pack_rgba(top.r, top.g, top.b));
  EXPECT_EQ(s.color(0.f), pack_rgba(bottom.r, bottom.g, bottom.b));
  EXPECT_NE(s.color(NAN), s.color(0.f));
  EXPECT_NEAR(s.value_at(0.25f), 0.5f, 1e-6);
}

// A signed map (implicit attention) is diverging about 0 on linear and log scales: negative
// weights are blue, never the colour of "no attention".
TEST(ColorScale, SignedMapsDivergeAboutZero) {
  ColorScale s;
  s.set_kind(profiler::ScaleKind::Linear);
  s.set_range(-2.f, 2.f);
  const uint32_t sequential_low = s.color(-2.f);
  s.set_signed(true);
  EXPECT_TRUE(s.is_signed());
  EXPECT_FLOAT_EQ(s.position(-2.f), 0.f);
  EXPECT_FLOAT_EQ(s.position(0.f), 0.5f);
  EXPECT_FLOAT_EQ(s.position(1.f), 0.75f);
  EXPECT_FLOAT_EQ(s.value_at(0.5f), 0.f);
  EXPECT_FLOAT_EQ(s.value_at(0.f), -2.f);
  auto red = [](uint32_t p) { return static_cast<int>(p & 0xff); };
  auto blue = [](uint32_t p) { return static_cast<int>((p >> 16) & 0xff); };
  EXPECT_GT(blue(s.color(-2.f)), red(s.color(-2.f)) + 60);
  EXPECT_GT(red(s.color(2.f)), blue(s.color(2.f)) + 60);
  EXPECT_EQ(s.color(0.f), diverging_color(0.f));
  EXPECT_NE(s.color(-2.f), sequential_low);
  std::vector<float> v = {-2.f, -0.5f, 0.f, 0.5f, 2.f};
  std::vector<uint32_t> px(v.size());
  s.colorize(v, px);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(px[i], s.color(v[i])) << i;

  // Log: decades of the magnitude from the floor, on either side of 0.
  s.set_kind(profiler::ScaleKind::Log);
  s.set_log_floor(1e-3f);
  s.set_range(1e-3f, 1.f);
  EXPECT_FLOAT_EQ(s.position(0.f), 0.5f);
  EXPECT_NEAR(s.position(-1e-2f), 0.5f - 0.5f / 3.f, 1e-5);
  EXPECT_NEAR(s.position(1.f), 1.f, 1e-6);
  EXPECT_NEAR(s.value_at(0.f), -1.f, 1e-5);
  EXPECT_GT(blue(s.color(-0.5f)), red(s.color(-0.5f)));
  // Rank orders signed values itself: unchanged.
  s.set_kind(profiler::ScaleKind::Rank);
  EXPECT_FALSE(s.is_signed());
}

TEST(ColorScale, ColorizeAgreesWithColorForEveryKind) {
  std::vector<float> v;
  for (int i = 0; i < 500; ++i) v.push_back(std::pow(10.f, -6.f + 6.f * static_cast<float>(i) / 499.f));
  v.push_back(NAN);
  for (auto kind : {profiler::ScaleKind::Linear, profiler::ScaleKind::Log, profiler::ScaleKind::Rank}) {
    ColorScale s;
    s.set_kind(kind);
    s.set_sample(v);
    std::vector<uint32_t> out(v.size());
    s.colorize(v, out);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(out[i], s.color(v[i])) << ColorScale::kind_name(kind) << " value " << i;
  }
}

TEST(ColorScale, LogSpacesDecadesEvenly) {
  ColorScale s;
  s.set_kind(profiler::ScaleKind::Log);
  s.set_log_floor(1e-4f);
  s.set_range(1e-4f, 1.f);
  EXPECT_NEAR(s.position(1e-4f), 0.f, 1e-6);
  EXPECT_NEAR(s.position(1e-2f), 0.5f, 1e-6);
  EXPECT_NEAR(s.position(1.f), 1.f, 1e-6);
  EXPECT_NEAR(s.position(0.f), 0.f, 1e-6);  // below the floor counts as the floor
  EXPECT_NEAR(s.value_at(0.75f), 1e-1f, 1e-6);
}

TEST(ColorScale, RankMatchesTheProfilersRankNormalisation) {
  // The canvas ranks against a sample; on the sample itself it must agree with the exporter's
  // rank scale (profiler::normalize_rank), ties included.
  const std::vector<float> sample = {0.3f, 0.1f, 0.1f, 0.7f, 0.2f, 0.7f, 0.7f, 0.05f, 1.f, 0.f};
  ColorScale s;
  s.set_kind(profiler::ScaleKind::Rank);
  s.set_sample(sample);
  const std::vector<float> expect = profiler::normalize_rank(sample);
  for (size_t i = 0; i < sample.size(); ++i) EXPECT_NEAR(s.position(sample[i]), expect[i], 1e-6) << i;
}

TEST(ColorScale, EveryChangeBumpsTheVersion) {
  ColorScale s;
  uint64_t v = s.version();
  s.set_range(0.f, 3.f);
  EXPECT_GT(s.version(), v);
  v = s.version();
  s.set_kind(profiler::ScaleKind::Rank);
  EXPECT_GT(s.version(), v);
  v = s.version();
  s.set_colormap(profiler::colormap("magma"));
  EXPECT_GT(s.version(), v);
  v = s.version();
  s.set_range(0.f, 3.f);  // no change, no recolouring
  EXPECT_EQ(s.version(), v);
  EXPECT_THROW(s.set_range(1.f, 1.f), Error);
  EXPECT_THROW(s.set_log_floor(0.f), Error);
}

}  // namespace
}  // namespace mnemo::viz

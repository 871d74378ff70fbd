#include "mnemo/core/fp16.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace mnemo {
namespace {

// The hardware conversions (F16C) are the independent reference for the portable ones.
TEST(Fp16, EveryHalfConvertsLikeF16C) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float hw = _cvtsh_ss(static_cast<uint16_t>(h));
    const float sw = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(hw)) {
      ASSERT_TRUE(std::isnan(sw)) << h;
      continue;
    }
    ASSERT_EQ(std::memcmp(&hw, &sw, 4), 0) << h;
  }
}

TEST(Fp16, RoundingFromFloatMatchesF16C) {
  uint32_t state = 12345;
  for (int i = 0; i < 2000000; ++i) {
    state = state * 1664525u + 1013904223u;
    float f;
    std::memcpy(&f, &state, 4);
    if (std::isnan(f)) continue;
    const uint16_t hw = _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
    ASSERT_EQ(f32_to_fp16(f), hw) << f;
  }
  for (float f : {0.f, -0.f, 65504.f, 65520.f, 1e-8f, 5.96e-8f, 6.1e-5f, std::numeric_limits<float>::infinity()})
    EXPECT_EQ(f32_to_fp16(f), _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)) << f;
}

TEST(Bf16, RoundTripsAndRoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  float f;
  uint32_t bits = 0x3f808000u;  // exactly halfway between 0x3f80 and 0x3f81: ties to even
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f80);
  bits = 0x3f818000u;
  std::memcpy(&f, &bits, 4);
  EXPECT_EQ(f32_to_bf16(f), 0x3f82);
}

}  // namespace
}  // namespace mnemo

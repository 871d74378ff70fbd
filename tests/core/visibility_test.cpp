// The visibility function against the golden table every reader shares
// (tests/golden/visibility.json, written by tools/reference/make_visibility_golden.py from its
// own reading of the definition), and the kernel's key ranges against the pairwise function.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "mnemo/core/visibility.h"
#include "paths.h"

namespace mnemo::test {
namespace {

TEST(Visibility, MatchesTheGoldenTable) {
  std::ifstream in(source_dir() + "/tests/golden/visibility.json");
  ASSERT_TRUE(in) << "tests/golden/visibility.json is missing";
  const auto cases = nlohmann::json::parse(in);
  ASSERT_TRUE(cases.is_array());
  ASSERT_GT(cases.size(), 100u);
  int hidden_by_residency = 0, windowed = 0, segmented = 0;
  for (const auto& c : cases) {
    const auto pattern = mask_pattern_from_name(c.at("mask").get<std::string>());
    ASSERT_TRUE(pattern) << c.dump();
    const Mask mask{*pattern, c.at("window").get<int64_t>()};
    const bool resident = c.at("resident").get<bool>();
    EXPECT_EQ(visible(mask, c.at("q_pos").get<int64_t>(), c.at("k_pos").get<int64_t>(), resident),
              c.at("visible").get<bool>())
        << c.dump();
    hidden_by_residency += !resident;
    windowed += *pattern == MaskPattern::Window;
    segmented += *pattern == MaskPattern::Segments;
  }
  EXPECT_GT(hidden_by_residency, 0);
  EXPECT_GT(windowed, 0);
  EXPECT_GT(segmented, 0);
}

TEST(Visibility, NamesRoundTrip) {
  for (auto p : {MaskPattern::None, MaskPattern::Causal, MaskPattern::Window, MaskPattern::Segments})
    EXPECT_EQ(mask_pattern_from_name(mask_pattern_name(p)), p);
  EXPECT_FALSE(mask_pattern_from_name("sparse_strided"));
}

// Where slot j holds position j, all resident, the kernel's contiguous range is exactly the set
// of keys visible() allows.
TEST(Visibility, KeyRangeAgreesWithThePairwiseDefinition) {
  for (auto p : {MaskPattern::None, MaskPattern::Causal, MaskPattern::Window, MaskPattern::Segments})
    for (int64_t window : {1, 2, 3, 7})
      for (int64_t n_keys : {0, 1, 5, 12})
        for (int64_t q = 0; q < 16; ++q) {
          const Mask mask{p, window};
          const KeyRange r = visible_key_range(mask, q, n_keys);
          for (int64_t k = 0; k < n_keys; ++k)
            EXPECT_EQ(k >= r.begin && k < r.end, visible(mask, q, k, true))
                << mask_pattern_name(p) << " window " << window << " q " << q << " k " << k;
        }
}

}  // namespace
}  // namespace mnemo::test

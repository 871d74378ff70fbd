#include "mnemo/core/dtype.h"

#include <gtest/gtest.h>

namespace mnemo {
namespace {

TEST(DType, GgmlIdsAndBlockSizes) {
  // Values from ggml.h's ggml_type and ggml's type traits.
  EXPECT_EQ(dtype_traits(2)->name, "q4_0");
  EXPECT_EQ(dtype_traits(3)->block_bytes, 20);
  EXPECT_EQ(dtype_traits(8)->block_bytes, 34);
  EXPECT_EQ(dtype_traits(12)->block_bytes, 144);
  EXPECT_EQ(dtype_traits(14)->block_bytes, 210);
  EXPECT_EQ(dtype_traits(30)->name, "bf16");
  EXPECT_FALSE(dtype_traits(4).has_value());  // Q4_2, removed from GGML
  EXPECT_FALSE(dtype_traits(999).has_value());
}

TEST(DType, RowBytesRefusesPartialBlocksAndOverflow) {
  EXPECT_EQ(row_bytes(DType::Q4_1, 576), 18u * 20u);
  EXPECT_FALSE(row_bytes(DType::Q4_1, 100).has_value());
  EXPECT_FALSE(row_bytes(DType::F32, -1).has_value());
  EXPECT_EQ(dtype_from_name("Q8_0"), DType::Q8_0);
  EXPECT_FALSE(dtype_from_name("q9_9").has_value());
}

}  // namespace
}  // namespace mnemo

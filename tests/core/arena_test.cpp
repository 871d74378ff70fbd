#include "mnemo/core/arena.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "mnemo/core/error.h"

namespace mnemo {
namespace {

TEST(Arena, AlignsResetsAndTracksHighWater) {
  Arena a(1 << 16);
  auto* p = static_cast<char*>(a.allocate(3));
  auto* q = static_cast<char*>(a.allocate(100));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  EXPECT_GE(q - p, 64);
  const size_t used = a.used();
  a.reset();
  EXPECT_EQ(a.used(), 0u);
  EXPECT_EQ(a.allocate(3), p);  // the same memory is reused
  EXPECT_EQ(a.high_water(), used);
}

TEST(Arena, ExhaustionIsAnErrorNotACrash) {
  Arena a(4096);
  a.allocate(4000);
  EXPECT_THROW(a.allocate(200), Error);
  EXPECT_THROW(a.allocate(SIZE_MAX - 8), Error);
}

}  // namespace
}  // namespace mnemo

// The session's CRC-32 against zlib's (the reference: every existing session was checked with it).
#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <vector>

#include "mnemo/profiler/session/checksum.h"

namespace mnemo::profiler {
namespace {

uint32_t zlib_crc(uint32_t crc, const uint8_t* p, size_t n) {
  return static_cast<uint32_t>(crc32(crc, p, static_cast<uInt>(n)));
}

TEST(Checksum, EqualsZlibForEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> bytes(4096 + 64);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 16; ++offset)
    for (size_t n = 0; n + offset <= 4096; ++n) {
      const std::span<const uint8_t> s(bytes.data() + offset, n);
      ASSERT_EQ(crc32_of(s), zlib_crc(0, s.data(), n)) << n << " bytes at offset " << offset;
    }
}

TEST(Checksum, ContinuesFromAValueAsZlibDoes) {
  std::mt19937 rng(11);
  std::vector<uint8_t> bytes(1 << 20);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  for (size_t split : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{1000}, bytes.size() / 2}) {
    const uint32_t head = crc32_of({bytes.data(), split});
    const uint32_t whole = crc32_update(head, {bytes.data() + split, bytes.size() - split});
    EXPECT_EQ(whole, zlib_crc(0, bytes.data(), bytes.size())) << "split at " << split;
  }
  for (uint32_t seed : {0u, 1u, 0xdeadbeefu, 0xffffffffu})
    EXPECT_EQ(crc32_update(seed, {bytes.data(), 777}), zlib_crc(seed, bytes.data(), 777)) << seed;
}

TEST(Checksum, KnownValues) {
  const std::string nine = "123456789";  // CRC-32's check value
  EXPECT_EQ(crc32_of({reinterpret_cast<const uint8_t*>(nine.data()), nine.size()}), 0xcbf43926u);
  const std::vector<uint8_t> zeros(4096, 0);
  EXPECT_EQ(crc32_of(zeros), zlib_crc(0, zeros.data(), zeros.size()));
  EXPECT_EQ(crc32_of({}), 0u);
}

}  // namespace
}  // namespace mnemo::profiler

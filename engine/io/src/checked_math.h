// Overflow-checked size arithmetic for sizes and offsets read from files: a hostile header can
// hold any 64-bit value, and a wrapped product would pass every later bounds check.
#pragma once

#include <cstdint>
#include <optional>

namespace mnemo::io {

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Rounds x up to a multiple of `alignment`, a power of two.
inline std::optional<uint64_t> checked_align_up(uint64_t x, uint64_t alignment) {
  const auto bumped = checked_add(x, alignment - 1);
  if (!bumped) return std::nullopt;
  return *bumped & ~(alignment - 1);
}

}  // namespace mnemo::io

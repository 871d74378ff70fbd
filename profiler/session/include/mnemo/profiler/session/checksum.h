// The checksums a session keeps on its BLOBs (factor slices, tiles, state matrices): CRC-32 as
// zlib computes it (folded with carry-less multiplication where the CPU has it, ~10x zlib's
// speed, so the writer thread can afford it on every byte) and checked by every reader of a
// BLOB, so that a damaged value is an error naming it instead of wrong probabilities.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace mnemo::profiler {

uint32_t crc32_of(std::span<const uint8_t> bytes);
// The CRC of what gave `crc` followed by `bytes` (zlib's crc32(crc, bytes)).
uint32_t crc32_update(uint32_t crc, std::span<const uint8_t> bytes);

// Throws Error("<what>: checksum mismatch (...)") when `bytes` do not have the CRC `expected`.
void verify_crc32(std::span<const uint8_t> bytes, uint32_t expected, const std::string& what);

}  // namespace mnemo::profiler

// The checksums a session keeps on its BLOBs (factor slices, tiles, state matrices): zlib's
// CRC-32, cheap enough for the writer thread (~1 GB/s) and checked by every reader of a BLOB, so
// that a damaged value is an error naming it instead of wrong probabilities.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace mnemo::profiler {

uint32_t crc32_of(std::span<const uint8_t> bytes);

// Throws Error("<what>: checksum mismatch (...)") when `bytes` do not have the CRC `expected`.
void verify_crc32(std::span<const uint8_t> bytes, uint32_t expected, const std::string& what);

}  // namespace mnemo::profiler

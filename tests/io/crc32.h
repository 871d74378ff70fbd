// CRC-32 (IEEE, as Python's zlib.crc32) of tensor bytes, to compare with the reference listings.
#pragma once

#include <cstddef>
#include <cstdint>

uint32_t crc32_of(const void* data, size_t n);

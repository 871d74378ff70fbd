#include "mnemo/profiler/session/checksum.h"

#include <zlib.h>

#include <cstdio>

#include "mnemo/core/error.h"

namespace mnemo::profiler {

uint32_t crc32_of(std::span<const uint8_t> bytes) {
  // zlib takes uInt lengths: feed values past 4 GiB in parts.
  uLong crc = crc32(0L, Z_NULL, 0);
  const uint8_t* p = bytes.data();
  for (size_t left = bytes.size(); left > 0;) {
    const uInt n = static_cast<uInt>(std::min<size_t>(left, size_t{1} << 30));
    crc = crc32(crc, p, n);
    p += n, left -= n;
  }
  return static_cast<uint32_t>(crc);
}

void verify_crc32(std::span<const uint8_t> bytes, uint32_t expected, const std::string& what) {
  const uint32_t got = crc32_of(bytes);
  if (got == expected) return;
  char buf[96];
  std::snprintf(buf, sizeof buf, ": checksum mismatch (CRC-32 %08x, recorded %08x): the value is damaged", got, expected);
  throw Error(what + buf);
}

}  // namespace mnemo::profiler

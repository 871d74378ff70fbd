#include "tensor_layout.h"

#include <cstdio>

#include "checked_math.h"
#include "mnemo/core/error.h"

namespace mnemo::io {

uint64_t tensor_nbytes(const std::string& path, std::string_view name, DType dtype,
                       std::span<const int64_t> shape) {
  auto fail = [&](const std::string& problem) -> uint64_t {
    throw FormatError(path, "tensor '" + printable(name) + "': " + problem);
  };
  for (int64_t d : shape)
    if (d < 0) fail("negative dimension " + std::to_string(d));
  const DTypeTraits& tr = traits(dtype);
  const int64_t inner = shape.empty() ? 1 : shape.back();
  const auto row = row_bytes(dtype, inner);
  if (!row)
    fail("contiguous dimension " + std::to_string(inner) + " is not a multiple of the " +
         std::string(tr.name) + " block size " + std::to_string(tr.block_elems));
  uint64_t total = *row;
  uint64_t numel = static_cast<uint64_t>(inner);
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    const auto t = checked_mul(total, static_cast<uint64_t>(shape[i]));
    const auto n = checked_mul(numel, static_cast<uint64_t>(shape[i]));
    if (!t || !n || *n > static_cast<uint64_t>(INT64_MAX)) fail("size overflows 64 bits");
    total = *t;
    numel = *n;
  }
  return total;
}

std::string printable(std::string_view s, size_t max_chars) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace mnemo::io

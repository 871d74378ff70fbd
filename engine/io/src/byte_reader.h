// A bounds-checked little-endian cursor over a byte buffer. Every read checks the bytes left
// first, so a parser built on it cannot read past the end of hostile input; a short read throws
// FormatError naming the file, the offset and what was being read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "mnemo/core/error.h"

namespace mnemo::io {

class ByteReader {
 public:
  ByteReader(const std::byte* data, uint64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& path() const { return path_; }

  uint8_t u8(const char* what) { return read_le<uint8_t>(what); }
  uint16_t u16(const char* what) { return read_le<uint16_t>(what); }
  uint32_t u32(const char* what) { return read_le<uint32_t>(what); }
  uint64_t u64(const char* what) { return read_le<uint64_t>(what); }

  // A view of the next n bytes, which stay owned by the buffer.
  std::string_view bytes(uint64_t n, const std::string& what) {
    need(n, what);
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += n;
    return out;
  }

  [[noreturn]] void fail(const std::string& problem) const { throw FormatError(path_, problem); }

 private:
  void need(uint64_t n, const std::string& what) const {
    if (n > remaining())
      fail("truncated: " + what + " at offset " + std::to_string(pos_) + " needs " +
           std::to_string(n) + " bytes but only " + std::to_string(remaining()) + " remain");
  }

  template <class T>
  T read_le(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));  // the engine targets little-endian x86-64 only
    pos_ += sizeof(T);
    return v;
  }

  const std::byte* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

}  // namespace mnemo::io

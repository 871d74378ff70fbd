// A minimal protobuf wire-format encoder (proto2 semantics): enough for the Perfetto writer.
// Each message is built in its own buffer; a nested message is appended as a length-delimited
// field once it is complete, so no size needs to be known in advance.
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace mnemo::profiler::proto {

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

class Message {
 public:
  // uint32/uint64/bool/enum fields; int32/int64 pass through as two's complement 64-bit, which
  // is how protobuf encodes negative int32 and int64 (10 bytes), not zigzag.
  void varint(std::uint32_t field, std::uint64_t value) {
    tag(field, kVarint);
    raw_varint(value);
  }
  void int64(std::uint32_t field, std::int64_t value) { varint(field, static_cast<std::uint64_t>(value)); }
  void fixed64(std::uint32_t field, std::uint64_t value) {
    tag(field, kFixed64);
    for (int i = 0; i < 8; ++i) buf_.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
  void double_(std::uint32_t field, double value) { fixed64(field, std::bit_cast<std::uint64_t>(value)); }
  void bytes(std::uint32_t field, std::string_view value) {
    tag(field, kLengthDelimited);
    raw_varint(value.size());
    buf_.append(value);
  }
  void message(std::uint32_t field, const Message& m) { bytes(field, m.buf_); }

  const std::string& data() const { return buf_; }
  void clear() { buf_.clear(); }

  void raw_varint(std::uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }

 private:
  void tag(std::uint32_t field, WireType type) { raw_varint((std::uint64_t{field} << 3) | type); }

  std::string buf_;
};

}  // namespace mnemo::profiler::proto

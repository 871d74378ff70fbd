#include "byte_level.h"

#include <array>

#include "utf8.h"

namespace mnemo::tok {
namespace {

struct ByteLevelTables {
  std::array<std::string, 256> to_char;
  std::array<int, 512> from_code_point;  // every stand-in is below U+0200

  ByteLevelTables() {
    from_code_point.fill(-1);
    // Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100, U+0101, ...
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const int cp = printable(b) ? b : next_extra++;
      append_utf8(to_char[b], static_cast<char32_t>(cp));
      from_code_point[cp] = b;
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables instance;
  return instance;
}

}  // namespace

const std::string& byte_level_char(unsigned char byte) { return tables().to_char[byte]; }

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += byte_level_char(static_cast<unsigned char>(c));
  return out;
}

bool byte_level_to_bytes(std::string_view token, std::string& bytes) {
  const auto& from = tables().from_code_point;
  size_t pos = 0;
  while (pos < token.size()) {
    const size_t length = utf8_sequence_length(token, pos);
    if (length == 0) return false;
    const char32_t cp = decode_utf8_at(token, pos, length);
    if (cp >= from.size() || from[cp] < 0) return false;
    bytes.push_back(static_cast<char>(from[cp]));
    pos += length;
  }
  return true;
}

}  // namespace mnemo::tok

// Small UTF-8 helpers. Tokenizer input may be any bytes, so every function here is defined for
// invalid UTF-8 too: an invalid sequence is reported, never read past the end of the text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mnemo::tok {

// Length of the well-formed UTF-8 sequence starting at text[pos] (1..4), or 0 when the bytes
// there are not one (overlong, surrogate, beyond U+10FFFF, truncated, stray continuation byte).
size_t utf8_sequence_length(std::string_view text, size_t pos);

// Decodes the sequence at text[pos] (which must be valid: utf8_sequence_length > 0).
char32_t decode_utf8_at(std::string_view text, size_t pos, size_t length);

bool is_valid_utf8(std::string_view text);

// Offset of the first byte that does not start a well-formed sequence, or npos.
size_t first_invalid_utf8(std::string_view text);

void append_utf8(std::string& out, char32_t code_point);

}  // namespace mnemo::tok

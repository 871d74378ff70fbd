// GPT-2's reversible byte ↔ Unicode mapping. Byte-level BPE vocabularies store every token as a
// string of these stand-in characters ("Ġ" for a space), so that each of the 256 byte values is
// a printable character and merges never see raw control or invalid bytes.
#pragma once

#include <string>
#include <string_view>

namespace mnemo::tok {

// The UTF-8 of the stand-in character for `byte`.
const std::string& byte_level_char(unsigned char byte);

// Raw bytes → their byte-level spelling (the form vocabulary entries use).
std::string bytes_to_byte_level(std::string_view bytes);

// Byte-level spelling → raw bytes. False when some character is not one of the 256 stand-ins
// (added tokens such as "<|im_start|>" written in plain text are such strings; callers then use
// the text as it is, like Hugging Face's ByteLevel decoder).
bool byte_level_to_bytes(std::string_view token, std::string& bytes);

}  // namespace mnemo::tok

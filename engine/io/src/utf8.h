// UTF-8 validation for names and strings read from model files. nlohmann::json refuses to dump
// invalid UTF-8, and a viewer must be able to print every key and name it accepted.
#pragma once

#include <string_view>

namespace mnemo::io {

// True when s is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace mnemo::io

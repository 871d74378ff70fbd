// Typed access to fields of tokenizer JSON (tokenizer.json, vocab.json, GGUF metadata) that
// throws FormatError naming the file and the field instead of nlohmann's type_error.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace mnemo::tok {

using nlohmann::json;

// Parses JSON text; FormatError(path, ...) when it is not JSON.
json parse_json(const std::string& text, const std::string& path);

// The member `key` of `object`, or nullptr when absent or null.
const json* field(const json& object, const char* key);

std::string string_field(const json& object, const char* key, const std::string& path,
                         const std::string& where);
// Defaults apply when the field is absent or null; a field of the wrong type is an error.
std::string string_or(const json& object, const char* key, const std::string& fallback,
                      const std::string& path, const std::string& where);
bool bool_or(const json& object, const char* key, bool fallback, const std::string& path,
             const std::string& where);
int64_t int_or(const json& object, const char* key, int64_t fallback, const std::string& path,
               const std::string& where);
// An integer value (JSON number without fraction); FormatError otherwise.
int64_t as_int(const json& value, const std::string& path, const std::string& where);

}  // namespace mnemo::tok

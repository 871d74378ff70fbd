// Parsing JSON read from model folders (config.json, the safetensors header, the shard index).
// nlohmann::json silently keeps the last of two equal keys and nests as deep as the input asks;
// for hostile input we want neither, so the parse is bounded and top-level duplicates refused.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mnemo::io {

constexpr int kMaxJsonNesting = 64;

// Parses `text`; throws FormatError(path, "<what>: <problem>") on a syntax error, invalid UTF-8,
// nesting deeper than kMaxJsonNesting, or a key repeated in the top-level object.
nlohmann::json parse_json_document(std::string_view text, const std::string& path,
                                   const std::string& what);

}  // namespace mnemo::io

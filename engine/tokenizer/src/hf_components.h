// The parts of a Hugging Face tokenizer.json around the model: "normalizer", "pre_tokenizer"
// and "post_processor". Types we do not implement are refused with a FormatError naming them,
// rather than tokenizing differently from the reference without a word.
#pragma once

#include <string>
#include <vector>

#include "json_fields.h"
#include "normalizer.h"
#include "pretokenizer.h"
#include "vocabulary.h"

namespace mnemo::tok {

Normalizer parse_normalizer(const json& spec, const std::string& path);

struct ParsedPreTokenizer {
  PreTokenizer pre_tokenizer;
  bool byte_level = false;  // a ByteLevel step was present: tokens are in the byte alphabet
};
ParsedPreTokenizer parse_pre_tokenizer(const json& spec, const std::string& path);

struct ParsedPostProcessor {
  std::vector<int32_t> prefix, suffix;  // ids before and after a single sequence
};
ParsedPostProcessor parse_post_processor(const json& spec, const Vocabulary& vocab,
                                         const std::string& path);

}  // namespace mnemo::tok

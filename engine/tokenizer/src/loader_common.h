// Pieces the loaders share: limits, special-token roles, merge-line parsing, BERT defaults.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline.h"

namespace mnemo::tok {

inline constexpr uint64_t kMaxTokenizerFileBytes = uint64_t{256} << 20;
inline constexpr size_t kMaxMerges = size_t{1} << 23;

// Fills roles still unset (-1) from well-known token spellings: [CLS], <s>, <|endoftext|>, ...
void fill_special_roles_by_name(SpecialTokens& special, const Vocabulary& vocab);

// "left right" → (left, right), split at the only space; FormatError(path) otherwise.
std::pair<std::string, std::string> split_merge_line(std::string_view line, const std::string& path,
                                                     const std::string& where);

// BERT's uncased/cased pipeline as the original vocab.txt checkpoints imply it: BertNormalizer,
// BertPreTokenizer, [CLS] … [SEP], and the bracketed special tokens as added tokens.
void use_bert_defaults(PipelineParts& parts, bool lowercase);

}  // namespace mnemo::tok

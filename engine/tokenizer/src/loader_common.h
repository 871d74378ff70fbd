// Pieces the loaders share: limits, special-token roles, merge-line parsing, BERT defaults.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline.h"

namespace mnemo::tok {

// The largest real tokenizer.json files are ~35 MB (Gemma 3); parsed, JSON costs several times
// its size in memory, so a cap well above that keeps a hostile file from exhausting it.
inline constexpr uint64_t kMaxTokenizerFileBytes = uint64_t{100} << 20;
inline constexpr size_t kMaxMerges = size_t{1} << 23;

// Fills roles still unset (-1) from well-known token spellings: [CLS], <s>, <|endoftext|>, ...
void fill_special_roles_by_name(SpecialTokens& special, const Vocabulary& vocab);

// "left right" → (left, right), split at the only space; FormatError(path) otherwise.
std::pair<std::string, std::string> split_merge_line(std::string_view line, const std::string& path,
                                                     const std::string& where);

// Calls fn(line, line_number) for each line of a text file, without the "\n" or a "\r" before it.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t begin = 0;
  for (size_t number = 1; begin < text.size(); ++number) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(line, number);
    begin = end + 1;
  }
}

// BERT's uncased/cased pipeline as the original vocab.txt checkpoints imply it: BertNormalizer,
// BertPreTokenizer, [CLS] … [SEP], and the bracketed special tokens as added tokens.
void use_bert_defaults(PipelineParts& parts, bool lowercase);

}  // namespace mnemo::tok

// Pre-tokenization: cutting normalised text into pieces that the model encodes independently
// (so merges never cross a piece boundary). Steps run in order, each on the previous pieces,
// as Hugging Face's pre_tokenizers.Sequence does.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pcre_regex.h"

namespace mnemo::tok {

// What happens to the text a split pattern matches (Hugging Face SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct RegexSplit {
  std::shared_ptr<const Regex> regex;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;  // the non-matching stretches are the delimiters instead
};
struct BertSplit {};  // whitespace removed, every punctuation character its own piece

// Patterns of the pre-tokenizers GGUF names in tokenizer.ggml.pre.
extern const char* const kGpt2Pattern;    // GPT-2, and Hugging Face ByteLevel(use_regex=true)
extern const char* const kLlama3Pattern;  // Llama 3
extern const char* const kQwen2Pattern;   // Qwen 2

class PreTokenizer {
 public:
  using Step = std::variant<RegexSplit, BertSplit>;

  void add(Step step) { steps_.push_back(std::move(step)); }
  void add_regex(const std::string& pattern, SplitBehavior behavior = SplitBehavior::Isolated);

  // Hugging Face ByteLevel(add_prefix_space=true): a space is put before text that does not
  // start with one. Applied by the tokenizer to each stretch between added tokens.
  bool add_prefix_space = false;

  // Pieces are views into `text`; empty pieces are dropped.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  std::vector<Step> steps_;
};

// The pre-tokenizer for a GGUF tokenizer.ggml.pre value; nullopt for one we do not know. Sets
// ignore_merges as llama.cpp does for that family.
std::optional<PreTokenizer> gguf_pre_tokenizer(const std::string& name, bool& ignore_merges);

}  // namespace mnemo::tok

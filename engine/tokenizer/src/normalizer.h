// Text normalisation applied to each stretch of text between added tokens, before
// pre-tokenization: Unicode normal forms, lowercasing, accent stripping, and BERT's cleanup.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "unicode.h"

namespace mnemo::tok {

struct BertNormalization {
  bool clean_text = true;     // drop NUL, U+FFFD and control characters; whitespace → ' '
  bool chinese_chars = true;  // surround CJK ideographs with spaces
  bool strip_accents = true;  // NFD, then drop nonspacing marks
  bool lowercase = true;
};
struct Lowercase {};
struct StripAccents {};

class Normalizer {
 public:
  using Step = std::variant<NormalForm, Lowercase, StripAccents, BertNormalization>;

  void add(Step step) { steps_.push_back(step); }
  bool empty() const { return steps_.empty(); }
  // Invalid UTF-8 bytes pass through every step unchanged.
  std::string apply(std::string_view text) const;

 private:
  std::vector<Step> steps_;
};

}  // namespace mnemo::tok

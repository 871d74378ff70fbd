// Added tokens ("<|im_start|>", "[CLS]", ...) are found in the raw text before normalisation
// and pre-tokenization, leftmost-longest, like Hugging Face's AddedVocabulary. The text between
// them goes through the rest of the pipeline.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;  // skipped by decode(skip_special = true)
};

class AddedTokenMatcher {
 public:
  // Replaces the set. Empty contents are ignored: they would match everywhere.
  void assign(std::vector<AddedToken> tokens);
  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Calls on_text(stretch) for text between tokens and on_token(id) for each token, in order.
  template <typename OnText, typename OnToken>
  void split(std::string_view text, OnText&& on_text, OnToken&& on_token) const;

 private:
  // Index into tokens_ of the longest token matching text at pos, or -1.
  int longest_match(std::string_view text, size_t pos) const;

  std::vector<AddedToken> tokens_;
  std::array<std::vector<int>, 256> by_first_byte_;  // token indices, longest first
};

template <typename OnText, typename OnToken>
void AddedTokenMatcher::split(std::string_view text, OnText&& on_text, OnToken&& on_token) const {
  if (tokens_.empty()) {
    if (!text.empty()) on_text(text);
    return;
  }
  size_t stretch_begin = 0;
  for (size_t pos = 0; pos < text.size();) {
    const int match = by_first_byte_[static_cast<unsigned char>(text[pos])].empty()
                          ? -1
                          : longest_match(text, pos);
    if (match < 0) {
      ++pos;
      continue;
    }
    if (pos > stretch_begin) on_text(text.substr(stretch_begin, pos - stretch_begin));
    on_token(tokens_[match].id);
    pos += tokens_[match].content.size();
    stretch_begin = pos;
  }
  if (stretch_begin < text.size()) on_text(text.substr(stretch_begin));
}

}  // namespace mnemo::tok

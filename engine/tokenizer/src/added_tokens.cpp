#include "added_tokens.h"

#include <algorithm>

namespace mnemo::tok {

void AddedTokenMatcher::assign(std::vector<AddedToken> tokens) {
  tokens_.clear();
  for (auto& bucket : by_first_byte_) bucket.clear();
  for (AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(token.content[0])].push_back(
        static_cast<int>(tokens_.size()));
    tokens_.push_back(std::move(token));
  }
  for (auto& bucket : by_first_byte_)
    std::stable_sort(bucket.begin(), bucket.end(), [&](int a, int b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
}

int AddedTokenMatcher::longest_match(std::string_view text, size_t pos) const {
  for (int index : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    const std::string& content = tokens_[index].content;
    if (text.compare(pos, content.size(), content) == 0) return index;
  }
  return -1;
}

}  // namespace mnemo::tok

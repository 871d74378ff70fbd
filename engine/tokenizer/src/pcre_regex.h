// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that lists the matches in a text.
// Patterns are compiled with PCRE2_MATCH_INVALID_UTF, so any bytes may be searched: invalid
// UTF-8 is never part of a match and simply falls between matches.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::tok {

struct Span {
  size_t begin = 0, end = 0;
};

class Regex {
 public:
  // literal: the pattern is a plain string (Hugging Face Split {"String": ...}).
  // Throws mnemo::Error with PCRE2's message when the pattern does not compile.
  explicit Regex(const std::string& pattern, bool literal = false);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Non-overlapping matches left to right. An empty match is skipped over by one character.
  // Throws mnemo::Error when PCRE2 gives up (a pathological pattern hitting its limits).
  void find_all(std::string_view text, std::vector<Span>& matches) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo::tok

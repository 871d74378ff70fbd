#include "pretokenizer.h"

#include "unicode.h"
#include "utf8.h"

namespace mnemo::tok {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

struct Stretch {
  size_t begin, end;
  bool delimiter;
};

// Hugging Face's fold over (offsets, is_match) for each SplitDelimiterBehavior.
std::vector<Stretch> apply_behavior(const std::vector<Stretch>& stretches, SplitBehavior behavior) {
  std::vector<Stretch> out;
  out.reserve(stretches.size());
  bool previous_delimiter = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      return stretches;
    case SplitBehavior::Removed:
      for (const Stretch& s : stretches)
        if (!s.delimiter) out.push_back(s);
      return out;
    case SplitBehavior::MergedWithPrevious:
      for (const Stretch& s : stretches) {
        if (s.delimiter && !previous_delimiter && !out.empty()) out.back().end = s.end;
        else out.push_back(s);
        previous_delimiter = s.delimiter;
      }
      return out;
    case SplitBehavior::MergedWithNext:
      for (auto it = stretches.rbegin(); it != stretches.rend(); ++it) {
        if (it->delimiter && !previous_delimiter && !out.empty()) out.back().begin = it->begin;
        else out.push_back(*it);
        previous_delimiter = it->delimiter;
      }
      return {out.rbegin(), out.rend()};
    case SplitBehavior::Contiguous:
      for (const Stretch& s : stretches) {
        if (s.delimiter == previous_delimiter && !out.empty()) out.back().end = s.end;
        else out.push_back(s);
        previous_delimiter = s.delimiter;
      }
      return out;
  }
  return out;
}

void split_regex(const RegexSplit& step, std::string_view piece, std::vector<Span>& matches,
                 std::vector<std::string_view>& out) {
  matches.clear();
  step.regex->find_all(piece, matches);
  if (step.behavior == SplitBehavior::Isolated && !step.invert) {  // the common, fast path
    size_t at = 0;
    for (const Span& m : matches) {
      if (m.begin > at) out.push_back(piece.substr(at, m.begin - at));
      out.push_back(piece.substr(m.begin, m.end - m.begin));
      at = m.end;
    }
    if (at < piece.size()) out.push_back(piece.substr(at));
    return;
  }
  std::vector<Stretch> stretches;
  size_t at = 0;
  for (const Span& m : matches) {
    if (m.begin > at) stretches.push_back({at, m.begin, step.invert});
    stretches.push_back({m.begin, m.end, !step.invert});
    at = m.end;
  }
  if (at < piece.size()) stretches.push_back({at, piece.size(), step.invert});
  for (const Stretch& s : apply_behavior(stretches, step.behavior))
    if (s.end > s.begin) out.push_back(piece.substr(s.begin, s.end - s.begin));
}

// BERT: split on whitespace (dropped) and around each punctuation character (kept alone).
// Invalid bytes stay inside words.
void split_bert(std::string_view piece, std::vector<std::string_view>& out) {
  size_t word_begin = 0, pos = 0;
  const auto flush = [&](size_t end) {
    if (end > word_begin) out.push_back(piece.substr(word_begin, end - word_begin));
  };
  while (pos < piece.size()) {
    const size_t length = utf8_sequence_length(piece, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    const char32_t cp = decode_utf8_at(piece, pos, length);
    if (is_whitespace(cp)) {
      flush(pos);
      word_begin = pos + length;
    } else if (is_punctuation(cp)) {
      flush(pos);
      out.push_back(piece.substr(pos, length));
      word_begin = pos + length;
    }
    pos += length;
  }
  flush(piece.size());
}

}  // namespace

void PreTokenizer::add_regex(const std::string& pattern, SplitBehavior behavior) {
  steps_.push_back(RegexSplit{std::make_shared<const Regex>(pattern), behavior, false});
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pieces.clear();
  if (text.empty()) return;
  pieces.push_back(text);
  std::vector<std::string_view> next;
  std::vector<Span> matches;
  for (const Step& step : steps_) {
    next.clear();
    for (std::string_view piece : pieces) {
      if (const auto* regex = std::get_if<RegexSplit>(&step)) split_regex(*regex, piece, matches, next);
      else split_bert(piece, next);
    }
    pieces.swap(next);
  }
}

std::optional<PreTokenizer> gguf_pre_tokenizer(const std::string& name, bool& ignore_merges) {
  PreTokenizer pre;
  ignore_merges = false;
  if (name == "gpt2" || name == "gpt-2" || name == "default" || name.empty()) {  // llama.cpp writes "gpt-2"
    pre.add_regex(kGpt2Pattern);
  } else if (name == "llama3" || name == "llama-bpe") {
    pre.add_regex(kLlama3Pattern);
    ignore_merges = true;
  } else if (name == "smollm") {
    // SmolLM2's tokenizer.json: Sequence[Digits(individual_digits), ByteLevel(use_regex)].
    pre.add_regex(R"(\p{N})");
    pre.add_regex(kGpt2Pattern);
  } else if (name == "qwen2") {
    pre.add_regex(kQwen2Pattern);
  } else {
    return std::nullopt;
  }
  return pre;
}

}  // namespace mnemo::tok

#include "wordpiece.h"

#include "mnemo/core/error.h"
#include "utf8.h"

namespace mnemo::tok {

WordPieceTokenizer::WordPieceTokenizer(PipelineParts parts, WordPieceOptions options)
    : PipelineTokenizer(std::move(parts)), options_(std::move(options)) {}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, bool add_special) const {
  if (const size_t bad = first_invalid_utf8(text); bad != std::string_view::npos)
    throw Error("WordPiece tokenizer: input text is not valid UTF-8 (byte " + std::to_string(bad) +
                ")");
  return PipelineTokenizer::encode(text, add_special);
}

void WordPieceTokenizer::encode_piece(std::string_view word, std::vector<int32_t>& ids) const {
  // Character boundaries: pieces may only start and end on them.
  std::vector<size_t> bounds;
  for (size_t pos = 0; pos < word.size();) {
    bounds.push_back(pos);
    const size_t length = utf8_sequence_length(word, pos);
    pos += length ? length : 1;
  }
  bounds.push_back(word.size());
  const size_t chars = bounds.size() - 1;

  const size_t first_new = ids.size();
  bool ok = chars <= options_.max_input_chars_per_word;
  std::string candidate;
  for (size_t start = 0; ok && start < chars;) {
    int32_t found = -1;
    size_t end = chars;
    for (; end > start; --end) {
      candidate.clear();
      if (start > 0) candidate = options_.continuing_prefix;
      candidate.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      found = vocab_.find(candidate);
      if (found >= 0) break;
    }
    if (found < 0) ok = false;
    else ids.push_back(found), start = end;
  }
  if (!ok) {
    ids.resize(first_new);
    if (special_.unk >= 0) ids.push_back(special_.unk);
  }
}

namespace {

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (size_t found; (found = text.find(from, at)) != std::string::npos; at = found + from.size()) {
    out.append(text, at, found - at);
    out.append(to);
  }
  out.append(text, at, std::string::npos);
  text.swap(out);
}

// Hugging Face's decoders::wordpiece::cleanup, in its order.
void cleanup(std::string& text) {
  static constexpr std::pair<std::string_view, std::string_view> kFixes[] = {
      {" .", "."},    {" ?", "?"},     {" !", "!"},          {" ,", ","},
      {" ' ", "'"},   {" n't", "n't"}, {" 'm", "'m"},        {" do not", " don't"},
      {" 's", "'s"},  {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kFixes) replace_all(text, from, to);
}

}  // namespace

std::string WordPieceTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  // As Hugging Face's WordPiece decoder: each token after the first gets a space unless it is a
  // continuation, and the cleanup applies token by token (so " ." loses its space, but the
  // pieces of "isn ' t" stay apart).
  std::string text, piece;
  bool first = true;
  for (int32_t id : ids) {
    if (!vocab_.has_id(id) || (skip_special && is_special(id))) continue;
    std::string_view token = vocab_.token(id);
    piece.clear();
    if (!first) {
      if (token.starts_with(options_.continuing_prefix)) token.remove_prefix(options_.continuing_prefix.size());
      else piece.push_back(' ');
    }
    piece.append(token);
    if (options_.cleanup) cleanup(piece);
    text += piece;
    first = false;
  }
  return text;
}

std::string WordPieceTokenizer::token_text(int32_t id) const {
  return vocab_.has_id(id) ? vocab_.token(id) : std::string();
}

}  // namespace mnemo::tok

// WordPiece (BERT): each pre-tokenized word is cut greedily into the longest vocabulary entries,
// continuation pieces spelled with a prefix ("##ing"). A word that cannot be cut, or that is
// longer than max_input_chars_per_word, becomes [UNK] as a whole.
#pragma once

#include "pipeline.h"

namespace mnemo::tok {

struct WordPieceOptions {
  std::string continuing_prefix = "##";
  size_t max_input_chars_per_word = 100;
  bool cleanup = true;  // decode: " ." → "." and the other fixes of Hugging Face's decoder
};

class WordPieceTokenizer final : public PipelineTokenizer {
 public:
  WordPieceTokenizer(PipelineParts parts, WordPieceOptions options);

  std::string kind() const override { return "wordpiece"; }
  // Throws mnemo::Error when the text is not valid UTF-8: BERT vocabularies have no byte
  // tokens, and silently dropping or replacing bytes would hide the caller's bug.
  std::vector<int32_t> encode(std::string_view text, bool add_special) const override;
  // Joins pieces with spaces, gluing "##" continuations to the word before.
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string token_text(int32_t id) const override;

 protected:
  void encode_piece(std::string_view word, std::vector<int32_t>& ids) const override;

 private:
  WordPieceOptions options_;
};

}  // namespace mnemo::tok

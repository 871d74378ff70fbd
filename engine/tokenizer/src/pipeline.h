// The encode pipeline shared by every tokenizer, in Hugging Face's order: added tokens are cut
// out of the raw text; each stretch between them is normalised, pre-tokenized, and each piece
// encoded by the model (BPE or WordPiece); the post-processor's prefix and suffix ids
// ([CLS] … [SEP], or BOS) frame the result when special tokens are asked for.
#pragma once

#include <memory>

#include "added_tokens.h"
#include "mnemo/tokenizer/tokenizer.h"
#include "normalizer.h"
#include "pretokenizer.h"
#include "vocabulary.h"

namespace mnemo::tok {

struct PipelineParts {
  Vocabulary vocab;
  std::vector<AddedToken> added;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  std::vector<int32_t> prefix, suffix;  // framing ids for encode(add_special = true)
  SpecialTokens special;
};

class PipelineTokenizer : public Tokenizer {
 public:
  explicit PipelineTokenizer(PipelineParts parts);

  int32_t vocab_size() const override { return vocab_.size(); }
  const SpecialTokens& special() const override { return special_; }
  std::vector<int32_t> encode(std::string_view text, bool add_special) const override;

  SpecialTokens& mutable_special() { return special_; }  // loaders fill roles after building
  const Vocabulary& vocab() const { return vocab_; }
  bool is_special(int32_t id) const { return id >= 0 && id < vocab_size() && special_ids_[id]; }
  bool is_added(int32_t id) const { return id >= 0 && id < vocab_size() && added_ids_[id]; }

 protected:
  // Encodes one pre-tokenized piece of normalised text, appending its ids.
  virtual void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const = 0;

  Vocabulary vocab_;
  AddedTokenMatcher added_;
  Normalizer normalizer_;
  PreTokenizer pre_tokenizer_;
  std::vector<int32_t> prefix_, suffix_;
  SpecialTokens special_;
  std::vector<bool> special_ids_, added_ids_;
};

}  // namespace mnemo::tok

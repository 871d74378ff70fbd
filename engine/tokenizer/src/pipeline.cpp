#include "pipeline.h"

namespace mnemo::tok {

PipelineTokenizer::PipelineTokenizer(PipelineParts parts)
    : vocab_(std::move(parts.vocab)),
      normalizer_(std::move(parts.normalizer)),
      pre_tokenizer_(std::move(parts.pre_tokenizer)),
      prefix_(std::move(parts.prefix)),
      suffix_(std::move(parts.suffix)),
      special_(parts.special) {
  special_ids_.assign(static_cast<size_t>(vocab_.size()), false);
  added_ids_.assign(static_cast<size_t>(vocab_.size()), false);
  for (const AddedToken& token : parts.added) {
    if (!vocab_.has_id(token.id)) continue;  // loaders add every added token to the vocabulary
    added_ids_[token.id] = true;
    if (token.special) special_ids_[token.id] = true;
  }
  added_.assign(std::move(parts.added));
}

std::vector<int32_t> PipelineTokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_special) ids.insert(ids.end(), prefix_.begin(), prefix_.end());
  std::vector<std::string_view> pieces;
  const auto encode_stretch = [&](std::string_view stretch) {
    std::string storage;
    if (!normalizer_.empty()) {
      storage = normalizer_.apply(stretch);
      stretch = storage;
    }
    if (pre_tokenizer_.add_prefix_space && !stretch.empty() && stretch.front() != ' ') {
      std::string prefixed = " ";
      prefixed += stretch;
      storage = std::move(prefixed);
      stretch = storage;
    }
    pre_tokenizer_.split(stretch, pieces);
    for (std::string_view piece : pieces) encode_piece(piece, ids);
  };
  added_.split(text, encode_stretch, [&](int32_t id) { ids.push_back(id); });
  if (add_special) ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  return ids;
}

}  // namespace mnemo::tok

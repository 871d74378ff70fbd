// Byte-level BPE (GPT-2, Llama 3, SmolLM2). Each pre-tokenized piece is spelled in GPT-2's byte
// alphabet, then the lowest-ranked adjacent pair is merged until no merge applies. Results are
// cached per piece: natural text repeats its words, and the cache is most of the speed.
#pragma once

#include <array>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "pipeline.h"
#include "string_map.h"

namespace mnemo::tok {

struct BpeOptions {
  bool ignore_merges = false;  // Llama 3: a piece that is itself a token is taken whole
};

class BpeTokenizer final : public PipelineTokenizer {
 public:
  // merges: (left, right) in byte-level spelling, lowest rank first. Throws FormatError(path)
  // when a merge names a token the vocabulary lacks.
  BpeTokenizer(PipelineParts parts, const std::vector<std::pair<std::string, std::string>>& merges,
               BpeOptions options, const std::string& path);

  std::string kind() const override { return "bpe"; }
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string token_text(int32_t id) const override;

 protected:
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const override;

 private:
  struct Merge {
    int32_t rank, merged_id;
  };
  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void merge_symbols(std::vector<int32_t>& symbols) const;

  BpeOptions options_;
  std::array<int32_t, 256> byte_ids_;             // the token for each single byte, or -1
  std::unordered_map<uint64_t, Merge> merges_;    // (left id, right id) → rank, result
  std::vector<std::string> token_bytes_;          // what each id decodes to

  static constexpr size_t kCacheablePiece = 64;   // longer pieces are rare; do not cache them
  static constexpr size_t kCacheEntries = 1 << 16;
  mutable std::mutex cache_mutex_;
  mutable StringMap<std::vector<int32_t>> cache_;
};

}  // namespace mnemo::tok

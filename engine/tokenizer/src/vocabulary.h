// The id ↔ token table every tokenizer has, built with the checks a hostile file needs: ids in
// range and dense enough, no token or id twice, valid UTF-8, a bounded size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "string_map.h"

namespace mnemo::tok {

// Far above any real vocabulary (Gemma's is 256k), low enough that a bad file cannot make us
// allocate gigabytes.
inline constexpr int64_t kMaxVocabulary = int64_t{1} << 22;

class Vocabulary {
 public:
  // entries: (token, id). `what` names the source in messages ("tokenizer.ggml.tokens").
  // Throws FormatError(path, ...) on any inconsistency.
  static Vocabulary build(std::vector<std::pair<std::string, int64_t>> entries,
                          const std::string& path, const std::string& what);

  // Adds a token that the model's table may lack (Hugging Face added_tokens). An id the table
  // already has must carry the same token. Throws FormatError.
  void add_or_check(const std::string& token, int64_t id, const std::string& path);

  int32_t find(std::string_view token) const;  // -1 when absent
  const std::string& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  bool has_id(int32_t id) const { return id >= 0 && id < size() && present_[id]; }
  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }

 private:
  void check_id(int64_t id, const std::string& path, const std::string& what) const;

  std::vector<std::string> tokens_;  // by id; empty where no token has that id
  std::vector<bool> present_;
  StringMap<int32_t> ids_;
};

}  // namespace mnemo::tok

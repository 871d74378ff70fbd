#include "bpe.h"

#include <queue>

#include "byte_level.h"
#include "mnemo/core/error.h"

namespace mnemo::tok {

BpeTokenizer::BpeTokenizer(PipelineParts parts,
                           const std::vector<std::pair<std::string, std::string>>& merges,
                           BpeOptions options, const std::string& path)
    : PipelineTokenizer(std::move(parts)), options_(options) {
  for (int b = 0; b < 256; ++b) byte_ids_[b] = vocab_.find(byte_level_char(static_cast<unsigned char>(b)));

  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& left = merges[rank].first;  // (clang 14 cannot capture structured bindings)
    const std::string& right = merges[rank].second;
    const auto lookup = [&](const std::string& token) {
      const int32_t id = vocab_.find(token);
      if (id < 0)
        throw FormatError(path, "merge " + std::to_string(rank) + " ('" + left + " " + right +
                                    "') uses '" + token + "', which is not in the vocabulary");
      return id;
    };
    const int32_t left_id = lookup(left), right_id = lookup(right), merged_id = lookup(left + right);
    merges_.emplace(pair_key(left_id, right_id), Merge{static_cast<int32_t>(rank), merged_id});
  }

  // Model tokens are spelled in the byte alphabet; added tokens ("<|im_start|>") are plain text.
  token_bytes_.resize(static_cast<size_t>(vocab_.size()));
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    if (!vocab_.has_id(id)) continue;
    const std::string& token = vocab_.token(id);
    std::string bytes;
    token_bytes_[id] = !is_added(id) && byte_level_to_bytes(token, bytes) ? bytes : token;
  }
}

void BpeTokenizer::merge_symbols(std::vector<int32_t>& symbols) const {
  const auto find_merge = [&](int32_t left, int32_t right) -> const Merge* {
    const auto it = merges_.find(pair_key(left, right));
    return it == merges_.end() ? nullptr : &it->second;
  };

  if (symbols.size() <= 16) {
    // Short pieces (almost all of them): scanning beats keeping a heap.
    while (symbols.size() >= 2) {
      const Merge* best = nullptr;
      size_t best_pos = 0;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const Merge* m = find_merge(symbols[i], symbols[i + 1]);
        if (m && (!best || m->rank < best->rank)) best = m, best_pos = i;
      }
      if (!best) return;
      symbols[best_pos] = best->merged_id;
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
    }
    return;
  }

  // Long pieces: a doubly linked list and a min-heap of candidate pairs ordered by (rank,
  // position), so a megabyte-long word costs O(n log n). Stale heap entries are skipped.
  const int n = static_cast<int>(symbols.size());
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  struct Candidate {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  const auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const Merge* m = find_merge(symbols[pos], symbols[next[pos]]))
      heap.push({m->rank, pos, symbols[pos], symbols[next[pos]]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    const int right = next[c.pos];
    if (!alive[c.pos] || right < 0 || symbols[c.pos] != c.left || symbols[right] != c.right)
      continue;
    symbols[c.pos] = find_merge(c.left, c.right)->merged_id;
    alive[right] = false;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  std::vector<int32_t> merged;
  for (int i = 0; i >= 0; i = next[i]) merged.push_back(symbols[i]);
  symbols.swap(merged);
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& ids) const {
  const bool cacheable = piece.size() <= kCacheablePiece;
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(piece); it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }

  std::vector<int32_t> symbols;
  if (options_.ignore_merges) {
    if (const int32_t whole = vocab_.find(bytes_to_byte_level(piece)); whole >= 0) symbols.push_back(whole);
  }
  if (symbols.empty()) {
    symbols.reserve(piece.size());
    for (char c : piece) {
      // A byte without a token (never in GPT-2-style vocabularies) becomes <unk>, or is dropped
      // when there is none.
      const int32_t id = byte_ids_[static_cast<unsigned char>(c)];
      if (id >= 0) symbols.push_back(id);
      else if (special_.unk >= 0) symbols.push_back(special_.unk);
    }
    merge_symbols(symbols);
  }

  ids.insert(ids.end(), symbols.begin(), symbols.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex_);
    if (cache_.size() >= kCacheEntries) cache_.clear();  // bounded: hostile text cannot grow it
    cache_.emplace(piece, std::move(symbols));
  }
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string text;
  for (int32_t id : ids) {
    if (!vocab_.has_id(id) || (skip_special && is_special(id))) continue;  // unknown ids: nothing
    text += token_bytes_[id];
  }
  return text;
}

std::string BpeTokenizer::token_text(int32_t id) const {
  return vocab_.has_id(id) ? token_bytes_[id] : std::string();
}

}  // namespace mnemo::tok

#include "vocabulary.h"

#include "mnemo/core/error.h"
#include "utf8.h"

namespace mnemo::tok {
namespace {

std::string quoted(std::string_view token) {
  std::string out = "'";
  out.append(token.substr(0, 60));
  if (token.size() > 60) out += "...";
  return out + "'";
}

}  // namespace

void Vocabulary::check_id(int64_t id, const std::string& path, const std::string& what) const {
  if (id < 0 || id >= kMaxVocabulary)
    throw FormatError(path, what + ": token id " + std::to_string(id) + " is out of range");
}

Vocabulary Vocabulary::build(std::vector<std::pair<std::string, int64_t>> entries,
                             const std::string& path, const std::string& what) {
  if (static_cast<int64_t>(entries.size()) > kMaxVocabulary)
    throw FormatError(path, what + ": " + std::to_string(entries.size()) +
                                " tokens is more than any tokenizer has");
  Vocabulary vocab;
  int64_t max_id = -1;
  for (const auto& [token, id] : entries) {
    vocab.check_id(id, path, what);
    max_id = std::max(max_id, id);
  }
  // Ids must be (nearly) dense: a table of 10 tokens claiming id 4,000,000 is a broken file.
  if (max_id >= static_cast<int64_t>(entries.size()) + 65536)
    throw FormatError(path, what + ": token id " + std::to_string(max_id) + " is far beyond the " +
                                std::to_string(entries.size()) + " tokens given");
  vocab.tokens_.resize(static_cast<size_t>(max_id + 1));
  vocab.present_.resize(static_cast<size_t>(max_id + 1));
  vocab.ids_.reserve(entries.size());
  for (auto& [token, id] : entries) {
    if (!is_valid_utf8(token))
      throw FormatError(path, what + ": token " + std::to_string(id) + " is not valid UTF-8");
    if (vocab.present_[id])
      throw FormatError(path, what + ": id " + std::to_string(id) + " is given to both " +
                                  quoted(vocab.tokens_[id]) + " and " + quoted(token));
    if (!vocab.ids_.emplace(token, static_cast<int32_t>(id)).second)
      throw FormatError(path, what + ": token " + quoted(token) + " appears twice");
    vocab.present_[id] = true;
    vocab.tokens_[id] = std::move(token);
  }
  return vocab;
}

void Vocabulary::add_or_check(const std::string& token, int64_t id, const std::string& path) {
  check_id(id, path, "added token " + quoted(token));
  if (!is_valid_utf8(token)) throw FormatError(path, "added token is not valid UTF-8");
  if (id < size() && present_[id]) {
    if (tokens_[id] != token)
      throw FormatError(path, "added token " + quoted(token) + " has id " + std::to_string(id) +
                                  ", which the vocabulary gives to " + quoted(tokens_[id]));
    return;
  }
  if (id >= size() + 65536)
    throw FormatError(path, "added token " + quoted(token) + " has id " + std::to_string(id) +
                                ", far beyond the vocabulary");
  if (id >= size()) {
    tokens_.resize(static_cast<size_t>(id + 1));
    present_.resize(static_cast<size_t>(id + 1));
  }
  tokens_[id] = token;
  present_[id] = true;
  ids_.emplace(token, static_cast<int32_t>(id));  // an existing entry with another id stays
}

int32_t Vocabulary::find(std::string_view token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

}  // namespace mnemo::tok

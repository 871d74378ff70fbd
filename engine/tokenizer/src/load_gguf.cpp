// GGUF tokenizer.ggml.* metadata (as ModelFile::metadata() gives it: arrays as JSON arrays).
// Byte-level BPE ("gpt2") and BERT WordPiece ("bert") vocabularies are supported.
#include "bpe.h"
#include "json_fields.h"
#include "loader_common.h"
#include "mnemo/core/error.h"
#include "wordpiece.h"

namespace mnemo::tok {
namespace {

// llama.cpp's token types: control and user-defined tokens are matched in the text as a whole.
constexpr int64_t kTokenTypeControl = 3;
constexpr int64_t kTokenTypeUserDefined = 4;

const json& array_key(const json& metadata, const char* key, const std::string& path) {
  const json* value = field(metadata, key);
  if (!value) throw FormatError(path, std::string(key) + " is missing");
  if (!value->is_array()) throw FormatError(path, std::string(key) + " must be an array");
  return *value;
}

int32_t special_id(const json& metadata, const char* key, const Vocabulary& vocab,
                   const std::string& path) {
  const int64_t id = int_or(metadata, key, -1, path, "metadata");
  if (id == -1) return -1;
  if (id < 0 || id >= vocab.size())
    throw FormatError(path, std::string(key) + " = " + std::to_string(id) +
                                " is outside the vocabulary of " + std::to_string(vocab.size()));
  return static_cast<int32_t>(id);
}

// tokenizer.ggml.tokens as a vocabulary (id = index), each token passed through `spelling`.
template <class Spelling>
Vocabulary read_vocabulary(const json& metadata, const std::string& path, Spelling spelling) {
  const json& tokens = array_key(metadata, "tokenizer.ggml.tokens", path);
  if (static_cast<int64_t>(tokens.size()) > kMaxVocabulary)
    throw FormatError(path, "tokenizer.ggml.tokens has " + std::to_string(tokens.size()) + " entries");
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(tokens.size());
  for (const json& token : tokens) {
    if (!token.is_string()) throw FormatError(path, "tokenizer.ggml.tokens must hold strings");
    entries.emplace_back(spelling(token.get<std::string>()), static_cast<int64_t>(entries.size()));
  }
  return Vocabulary::build(std::move(entries), path, "tokenizer.ggml.tokens");
}

// llama.cpp's converter stores BERT vocabularies with word-initial pieces prefixed by U+2581 and
// "##" dropped from continuations; [BRACKETED] special tokens stay as they are. This undoes it.
std::string wordpiece_token(const std::string& gguf_token) {
  static const std::string kWordStart = "\xe2\x96\x81";  // ▁
  if (gguf_token.size() >= 2 && gguf_token.front() == '[' && gguf_token.back() == ']') return gguf_token;
  if (gguf_token.rfind(kWordStart, 0) == 0) return gguf_token.substr(kWordStart.size());
  return "##" + gguf_token;
}

std::unique_ptr<Tokenizer> build_wordpiece(const json& metadata, const std::string& path) {
  PipelineParts parts;
  parts.vocab = read_vocabulary(metadata, path, wordpiece_token);
  use_bert_defaults(parts, /*lowercase=*/true);  // llama.cpp's BERT tokenizer always lowercases
  SpecialTokens& special = parts.special;
  for (auto [key, role] : {std::pair{"tokenizer.ggml.unknown_token_id", &special.unk},
                           std::pair{"tokenizer.ggml.padding_token_id", &special.pad},
                           std::pair{"tokenizer.ggml.cls_token_id", &special.cls},
                           std::pair{"tokenizer.ggml.seperator_token_id", &special.sep},
                           std::pair{"tokenizer.ggml.mask_token_id", &special.mask}})
    if (const int32_t id = special_id(metadata, key, parts.vocab, path); id >= 0) *role = id;
  parts.prefix.clear();
  parts.suffix.clear();
  if (special.cls >= 0) parts.prefix = {special.cls};
  if (special.sep >= 0) parts.suffix = {special.sep};
  return std::make_unique<WordPieceTokenizer>(std::move(parts), WordPieceOptions{});
}

std::unique_ptr<Tokenizer> build(const json& metadata, const std::string& path) {
  if (!metadata.is_object()) throw FormatError(path, "metadata must be an object");
  if (!field(metadata, "tokenizer.ggml.model"))
    throw FormatError(path, "the file carries no tokenizer (tokenizer.ggml.model is missing)");
  const std::string model = string_field(metadata, "tokenizer.ggml.model", path, "metadata");
  if (model == "bert") return build_wordpiece(metadata, path);
  if (model != "gpt2") {
    std::string what = "tokenizer.ggml.model '" + model + "' is not supported";
    if (model == "llama") what += " (SentencePiece)";
    throw FormatError(path, what + "; 'gpt2' (byte-level BPE) and 'bert' (WordPiece) are");
  }

  const json& tokens = array_key(metadata, "tokenizer.ggml.tokens", path);
  PipelineParts parts;
  parts.vocab = read_vocabulary(metadata, path, [](const std::string& token) { return token; });

  if (const json* types = field(metadata, "tokenizer.ggml.token_type")) {
    if (!types->is_array() || types->size() != tokens.size())
      throw FormatError(path, "tokenizer.ggml.token_type must be an array as long as the tokens");
    for (size_t id = 0; id < types->size(); ++id) {
      const int64_t type = as_int((*types)[id], path, "tokenizer.ggml.token_type[]");
      if (type == kTokenTypeControl || type == kTokenTypeUserDefined)
        parts.added.push_back({parts.vocab.token(static_cast<int32_t>(id)), static_cast<int32_t>(id),
                               type == kTokenTypeControl});
    }
  }

  const json& merge_lines = array_key(metadata, "tokenizer.ggml.merges", path);
  if (merge_lines.size() > kMaxMerges) throw FormatError(path, "tokenizer.ggml.merges is absurdly long");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merge_lines.size());
  for (const json& line : merge_lines) {
    if (!line.is_string()) throw FormatError(path, "tokenizer.ggml.merges must hold strings");
    merges.push_back(split_merge_line(line.get_ref<const std::string&>(), path, "tokenizer.ggml.merges"));
  }

  const std::string pre = string_or(metadata, "tokenizer.ggml.pre", "default", path, "metadata");
  BpeOptions options;
  auto pre_tokenizer = gguf_pre_tokenizer(pre, options.ignore_merges);
  if (!pre_tokenizer)
    throw FormatError(path, "tokenizer.ggml.pre '" + pre + "' is not a supported pre-tokenizer "
                            "(gpt2, gpt-2, default, llama3, llama-bpe, smollm, qwen2 are)");
  parts.pre_tokenizer = std::move(*pre_tokenizer);

  SpecialTokens& special = parts.special;
  special.bos = special_id(metadata, "tokenizer.ggml.bos_token_id", parts.vocab, path);
  special.eos = special_id(metadata, "tokenizer.ggml.eos_token_id", parts.vocab, path);
  special.unk = special_id(metadata, "tokenizer.ggml.unknown_token_id", parts.vocab, path);
  special.pad = special_id(metadata, "tokenizer.ggml.padding_token_id", parts.vocab, path);
  special.cls = special_id(metadata, "tokenizer.ggml.cls_token_id", parts.vocab, path);
  special.sep = special_id(metadata, "tokenizer.ggml.seperator_token_id", parts.vocab, path);
  special.mask = special_id(metadata, "tokenizer.ggml.mask_token_id", parts.vocab, path);
  if (bool_or(metadata, "tokenizer.ggml.add_bos_token", false, path, "metadata") && special.bos >= 0)
    parts.prefix = {special.bos};
  if (bool_or(metadata, "tokenizer.ggml.add_eos_token", false, path, "metadata") && special.eos >= 0)
    parts.suffix = {special.eos};

  return std::make_unique<BpeTokenizer>(std::move(parts), merges, options, path);
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const nlohmann::json& metadata, const std::string& path) {
  try {
    return build(metadata, path);
  } catch (const json::exception& e) {
    throw FormatError(path, e.what());
  }
}

}  // namespace mnemo::tok

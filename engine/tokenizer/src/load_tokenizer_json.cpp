// Hugging Face tokenizer.json: model (BPE or WordPiece), added_tokens, normalizer,
// pre_tokenizer, post_processor, decoder.
#include "bpe.h"
#include "hf_components.h"
#include "loader_common.h"
#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"
#include "wordpiece.h"

namespace mnemo::tok {
namespace {

// Files written by old versions of `tokenizers` have no model.type.
std::string model_type(const json& model, const std::string& path) {
  if (field(model, "type")) return string_field(model, "type", path, "model");
  if (field(model, "merges")) return "BPE";
  if (field(model, "max_input_chars_per_word")) return "WordPiece";
  throw FormatError(path, "model.type is missing and cannot be inferred");
}

Vocabulary read_vocab(const json& model, const std::string& path) {
  const json* vocab = field(model, "vocab");
  if (!vocab || !vocab->is_object()) throw FormatError(path, "model.vocab must be an object");
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(vocab->size());
  for (const auto& [token, id] : vocab->items())
    entries.emplace_back(token, as_int(id, path, "model.vocab['" + token.substr(0, 60) + "']"));
  return Vocabulary::build(std::move(entries), path, "model.vocab");
}

std::vector<AddedToken> read_added_tokens(const json& doc, Vocabulary& vocab,
                                          const std::string& path) {
  std::vector<AddedToken> added;
  const json* list = field(doc, "added_tokens");
  if (!list) return added;
  if (!list->is_array()) throw FormatError(path, "added_tokens must be an array");
  for (const json& entry : *list) {
    AddedToken token;
    token.content = string_field(entry, "content", path, "added_tokens[]");
    const int64_t id = int_or(entry, "id", -1, path, "added_tokens[]");
    token.special = bool_or(entry, "special", false, path, "added_tokens[]");
    vocab.add_or_check(token.content, id, path);
    token.id = static_cast<int32_t>(id);
    added.push_back(std::move(token));
  }
  return added;
}

std::vector<std::pair<std::string, std::string>> read_merges(const json& model,
                                                             const std::string& path) {
  const json* list = field(model, "merges");
  if (!list) return {};
  if (!list->is_array()) throw FormatError(path, "model.merges must be an array");
  if (list->size() > kMaxMerges) throw FormatError(path, "model.merges is absurdly long");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(list->size());
  for (const json& merge : *list) {
    if (merge.is_string()) {  // "left right" (before tokenizers 0.20)
      merges.push_back(split_merge_line(merge.get_ref<const std::string&>(), path, "model.merges"));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      throw FormatError(path, "model.merges: each merge must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  return merges;
}

std::unique_ptr<Tokenizer> build_bpe(const json& doc, const json& model, PipelineParts parts,
                                     bool byte_level, const std::string& path) {
  if (!byte_level)
    throw FormatError(path, "BPE without a ByteLevel pre-tokenizer (SentencePiece-style) is not "
                            "supported; only byte-level BPE is");
  if (bool_or(model, "byte_fallback", false, path, "model"))
    throw FormatError(path, "BPE with byte_fallback is not supported");
  if (!string_or(model, "continuing_subword_prefix", "", path, "model").empty() ||
      !string_or(model, "end_of_word_suffix", "", path, "model").empty())
    throw FormatError(path, "BPE with a subword prefix or suffix is not supported");
  BpeOptions options;
  options.ignore_merges = bool_or(model, "ignore_merges", false, path, "model");
  const std::string unk = string_or(model, "unk_token", "", path, "model");
  if (!unk.empty()) parts.special.unk = parts.vocab.find(unk);
  if (parts.prefix.size() == 1) parts.special.bos = parts.prefix[0];
  if (parts.suffix.size() == 1) parts.special.eos = parts.suffix[0];
  fill_special_roles_by_name(parts.special, parts.vocab);
  return std::make_unique<BpeTokenizer>(std::move(parts), read_merges(model, path), options, path);
}

std::unique_ptr<Tokenizer> build_wordpiece(const json& doc, const json& model, PipelineParts parts,
                                           const std::string& path) {
  WordPieceOptions options;
  options.continuing_prefix = string_or(model, "continuing_subword_prefix", "##", path, "model");
  const int64_t max_chars = int_or(model, "max_input_chars_per_word", 100, path, "model");
  if (max_chars < 1) throw FormatError(path, "model.max_input_chars_per_word must be positive");
  options.max_input_chars_per_word = static_cast<size_t>(max_chars);
  if (const json* decoder = field(doc, "decoder"); decoder && decoder->is_object())
    options.cleanup = bool_or(*decoder, "cleanup", true, path, "decoder");
  const std::string unk = string_or(model, "unk_token", "[UNK]", path, "model");
  parts.special.unk = parts.vocab.find(unk);
  if (parts.prefix.size() == 1) parts.special.cls = parts.prefix[0];
  if (parts.suffix.size() == 1) parts.special.sep = parts.suffix[0];
  fill_special_roles_by_name(parts.special, parts.vocab);
  return std::make_unique<WordPieceTokenizer>(std::move(parts), std::move(options));
}

std::unique_ptr<Tokenizer> build(const json& doc, const std::string& path) {
  if (!doc.is_object()) throw FormatError(path, "tokenizer.json must be an object");
  const json* model = field(doc, "model");
  if (!model || !model->is_object()) throw FormatError(path, "model must be an object");
  const std::string type = model_type(*model, path);
  if (type != "BPE" && type != "WordPiece")
    throw FormatError(path, "model type '" + type + "' is not supported (BPE and WordPiece are)");

  PipelineParts parts;
  parts.vocab = read_vocab(*model, path);
  parts.added = read_added_tokens(doc, parts.vocab, path);
  const json null;
  const auto member = [&](const char* key) -> const json& {
    const json* value = field(doc, key);
    return value ? *value : null;
  };
  parts.normalizer = parse_normalizer(member("normalizer"), path);
  ParsedPreTokenizer pre = parse_pre_tokenizer(member("pre_tokenizer"), path);
  parts.pre_tokenizer = std::move(pre.pre_tokenizer);
  ParsedPostProcessor post = parse_post_processor(member("post_processor"), parts.vocab, path);
  parts.prefix = std::move(post.prefix);
  parts.suffix = std::move(post.suffix);

  if (type == "BPE") return build_bpe(doc, *model, std::move(parts), pre.byte_level, path);
  return build_wordpiece(doc, *model, std::move(parts), path);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  const json doc = parse_json(read_text_file(path, kMaxTokenizerFileBytes), path);
  try {
    return build(doc, path);
  } catch (const json::exception& e) {  // a shape we did not check by hand
    throw FormatError(path, e.what());
  }
}

}  // namespace mnemo::tok

// load_tokenizer(ModelFile): the tokenizer a checkpoint carries. Kept apart from the other
// loaders so that only this file depends on engine/io.
#include <filesystem>

#include "json_fields.h"
#include "loader_common.h"
#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"
#include "mnemo/io/model_file.h"
#include "mnemo/tokenizer/tokenizer.h"

namespace mnemo::tok {
namespace {

// tokenizer_config.json's do_lower_case; BERT checkpoints without one are uncased.
bool lowercase_from_config(const std::filesystem::path& folder) {
  const auto config = folder / "tokenizer_config.json";
  if (!std::filesystem::exists(config)) return true;
  const json doc = parse_json(read_text_file(config.string(), kMaxTokenizerFileBytes), config.string());
  return bool_or(doc, "do_lower_case", true, config.string(), "tokenizer_config");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const io::ModelFile& model) {
  if (model.format() == "gguf") return load_gguf_tokenizer(model.metadata(), model.path());

  std::filesystem::path folder = model.path();
  std::error_code error;
  if (!std::filesystem::is_directory(folder, error)) folder = folder.parent_path();
  const auto has = [&](const char* name) { return std::filesystem::exists(folder / name, error); };
  if (has("tokenizer.json")) return load_tokenizer_json((folder / "tokenizer.json").string());
  if (has("vocab.json") && has("merges.txt"))
    return load_gpt2_vocab_merges((folder / "vocab.json").string(), (folder / "merges.txt").string());
  if (has("vocab.txt"))
    return load_wordpiece_vocab((folder / "vocab.txt").string(), lowercase_from_config(folder));
  throw FormatError(folder.string(), "no tokenizer found (looked for tokenizer.json, "
                                     "vocab.json + merges.txt, vocab.txt)");
}

}  // namespace mnemo::tok

// GPT-2's original layout: vocab.json (token → id) and merges.txt ("#version" line, then one
// "left right" merge per line, lowest rank first).
#include "bpe.h"
#include "json_fields.h"
#include "loader_common.h"
#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"

namespace mnemo::tok {
namespace {

std::vector<std::pair<std::string, std::string>> read_merges_txt(const std::string& path) {
  const std::string text = read_text_file(path, kMaxTokenizerFileBytes);
  std::vector<std::pair<std::string, std::string>> merges;
  for_each_line(text, [&](std::string_view line, size_t number) {
    if (line.empty() || (number == 1 && line.starts_with("#version"))) return;
    if (merges.size() >= kMaxMerges) throw FormatError(path, "too many merges");
    merges.push_back(split_merge_line(line, path, "line " + std::to_string(number)));
  });
  return merges;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gpt2_vocab_merges(const std::string& vocab_json,
                                                  const std::string& merges_txt) {
  const json doc = parse_json(read_text_file(vocab_json, kMaxTokenizerFileBytes), vocab_json);
  if (!doc.is_object()) throw FormatError(vocab_json, "must be an object of token → id");
  std::vector<std::pair<std::string, int64_t>> entries;
  entries.reserve(doc.size());
  for (const auto& [token, id] : doc.items()) {
    std::string where = "entry '";
    where.append(token, 0, 60).append("'");
    entries.emplace_back(token, as_int(id, vocab_json, where));
  }

  PipelineParts parts;
  parts.vocab = Vocabulary::build(std::move(entries), vocab_json, "vocabulary");
  parts.pre_tokenizer.add_regex(kGpt2Pattern);
  // GPT-2's one special token lives in vocab.json; treat it as Hugging Face's GPT2Tokenizer does.
  if (const int32_t id = parts.vocab.find("<|endoftext|>"); id >= 0)
    parts.added.push_back({"<|endoftext|>", id, true});
  fill_special_roles_by_name(parts.special, parts.vocab);
  return std::make_unique<BpeTokenizer>(std::move(parts), read_merges_txt(merges_txt), BpeOptions{},
                                        merges_txt);
}

}  // namespace mnemo::tok

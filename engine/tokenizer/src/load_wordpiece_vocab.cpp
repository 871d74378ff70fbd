// BERT's vocab.txt: one token per line, the id is the line number.
#include "loader_common.h"
#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"
#include "vocabulary.h"
#include "wordpiece.h"

namespace mnemo::tok {

std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::string& vocab_txt, bool lowercase) {
  const std::string text = read_text_file(vocab_txt, kMaxTokenizerFileBytes);
  std::vector<std::pair<std::string, int64_t>> entries;
  for_each_line(text, [&](std::string_view line, size_t) {
    if (static_cast<int64_t>(entries.size()) >= kMaxVocabulary)
      throw FormatError(vocab_txt, "more lines than any vocabulary has");
    // Hugging Face trims trailing whitespace.
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    entries.emplace_back(std::string(line), static_cast<int64_t>(entries.size()));
  });
  if (entries.empty()) throw FormatError(vocab_txt, "the vocabulary is empty");
  PipelineParts parts;
  parts.vocab = Vocabulary::build(std::move(entries), vocab_txt, "vocabulary");
  use_bert_defaults(parts, lowercase);
  return std::make_unique<WordPieceTokenizer>(std::move(parts), WordPieceOptions{});
}

}  // namespace mnemo::tok

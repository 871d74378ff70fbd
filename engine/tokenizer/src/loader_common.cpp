#include "loader_common.h"

#include "mnemo/core/error.h"

namespace mnemo::tok {

void fill_special_roles_by_name(SpecialTokens& special, const Vocabulary& vocab) {
  const auto fill = [&](int32_t& role, std::initializer_list<const char*> names) {
    for (const char* name : names) {
      if (role >= 0) return;
      role = vocab.find(name);
    }
  };
  fill(special.bos, {"<|begin_of_text|>", "<s>", "<|endoftext|>"});
  fill(special.eos, {"<|end_of_text|>", "</s>", "<|endoftext|>"});
  fill(special.unk, {"[UNK]", "<unk>"});
  fill(special.pad, {"[PAD]", "<pad>"});
  fill(special.cls, {"[CLS]"});
  fill(special.sep, {"[SEP]"});
  fill(special.mask, {"[MASK]", "<mask>"});
}

std::pair<std::string, std::string> split_merge_line(std::string_view line, const std::string& path,
                                                     const std::string& where) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
      line.find(' ', space + 1) != std::string_view::npos)
    throw FormatError(path, where + ": '" + std::string(line.substr(0, 80)) +
                                "' is not two tokens separated by one space");
  return {std::string(line.substr(0, space)), std::string(line.substr(space + 1))};
}

void use_bert_defaults(PipelineParts& parts, bool lowercase) {
  BertNormalization bert;
  bert.lowercase = lowercase;
  bert.strip_accents = lowercase;
  parts.normalizer.add(bert);
  parts.pre_tokenizer.add(BertSplit{});
  for (const char* name : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
    if (const int32_t id = parts.vocab.find(name); id >= 0) parts.added.push_back({name, id, true});
  fill_special_roles_by_name(parts.special, parts.vocab);
  if (parts.special.cls >= 0) parts.prefix = {parts.special.cls};
  if (parts.special.sep >= 0) parts.suffix = {parts.special.sep};
}

}  // namespace mnemo::tok

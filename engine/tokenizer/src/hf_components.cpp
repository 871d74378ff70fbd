#include "hf_components.h"

#include "mnemo/core/error.h"

namespace mnemo::tok {
namespace {

// Sequences nest; a hostile file could nest them deeply enough to exhaust the stack.
constexpr int kMaxNesting = 16;

std::string type_of(const json& spec, const std::string& path, const std::string& where) {
  if (!spec.is_object()) throw FormatError(path, where + " must be an object");
  return string_field(spec, "type", path, where);
}

const json& array_field(const json& spec, const char* key, const std::string& path,
                        const std::string& where) {
  const json* value = field(spec, key);
  if (!value || !value->is_array()) throw FormatError(path, where + "." + key + " must be an array");
  return *value;
}

void add_normalizer(Normalizer& out, const json& spec, const std::string& path, int depth) {
  const std::string where = "normalizer";
  if (depth > kMaxNesting) throw FormatError(path, where + ": Sequence nested too deeply");
  const std::string type = type_of(spec, path, where);
  if (type == "Sequence") {
    for (const json& step : array_field(spec, "normalizers", path, where))
      add_normalizer(out, step, path, depth + 1);
  } else if (type == "NFC") {
    out.add(NormalForm::NFC);
  } else if (type == "NFD") {
    out.add(NormalForm::NFD);
  } else if (type == "NFKC") {
    out.add(NormalForm::NFKC);
  } else if (type == "NFKD") {
    out.add(NormalForm::NFKD);
  } else if (type == "Lowercase") {
    out.add(Lowercase{});
  } else if (type == "StripAccents") {
    out.add(StripAccents{});
  } else if (type == "BertNormalizer") {
    BertNormalization bert;
    bert.clean_text = bool_or(spec, "clean_text", true, path, where);
    bert.chinese_chars = bool_or(spec, "handle_chinese_chars", true, path, where);
    bert.lowercase = bool_or(spec, "lowercase", true, path, where);
    // null strip_accents means "follow lowercase", as in BERT's original uncased models.
    bert.strip_accents = bool_or(spec, "strip_accents", bert.lowercase, path, where);
    out.add(bert);
  } else {
    throw FormatError(path, "normalizer type '" + type + "' is not supported");
  }
}

SplitBehavior parse_behavior(const json& spec, const std::string& path, const std::string& where) {
  const std::string name = string_or(spec, "behavior", "Isolated", path, where);
  if (name == "Removed") return SplitBehavior::Removed;
  if (name == "Isolated") return SplitBehavior::Isolated;
  if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (name == "Contiguous") return SplitBehavior::Contiguous;
  throw FormatError(path, where + ".behavior '" + name + "' is not a split behaviour");
}

void add_split(PreTokenizer& out, const std::string& pattern, bool literal, SplitBehavior behavior,
               bool invert, const std::string& path, const std::string& where) {
  try {
    out.add(RegexSplit{std::make_shared<const Regex>(pattern, literal), behavior, invert});
  } catch (const FormatError&) {
    throw;
  } catch (const Error& e) {
    throw FormatError(path, where + ": " + e.what());
  }
}

void add_pre_tokenizer(ParsedPreTokenizer& out, const json& spec, const std::string& path,
                       int depth, int& steps) {
  const std::string where = "pre_tokenizer";
  if (depth > kMaxNesting) throw FormatError(path, where + ": Sequence nested too deeply");
  const std::string type = type_of(spec, path, where);
  if (type == "Sequence") {
    for (const json& step : array_field(spec, "pretokenizers", path, where))
      add_pre_tokenizer(out, step, path, depth + 1, steps);
    return;
  }
  ++steps;
  if (type == "ByteLevel") {
    out.byte_level = true;
    if (bool_or(spec, "add_prefix_space", false, path, where)) {
      // Hugging Face prefixes every piece present at this point; we support the usual case
      // where ByteLevel comes first and there is one piece per stretch of text.
      if (steps > 1)
        throw FormatError(path, "ByteLevel with add_prefix_space after another pre-tokenizer "
                                "is not supported");
      out.pre_tokenizer.add_prefix_space = true;
    }
    if (bool_or(spec, "use_regex", true, path, where))
      add_split(out.pre_tokenizer, kGpt2Pattern, false, SplitBehavior::Isolated, false, path, where);
  } else if (type == "Split") {
    const json* pattern = field(spec, "pattern");
    if (!pattern || !pattern->is_object()) throw FormatError(path, where + ".pattern must be an object");
    const bool literal = field(*pattern, "String") != nullptr;
    const std::string text = literal ? string_field(*pattern, "String", path, where + ".pattern")
                                     : string_field(*pattern, "Regex", path, where + ".pattern");
    add_split(out.pre_tokenizer, text, literal, parse_behavior(spec, path, where),
              bool_or(spec, "invert", false, path, where), path, where);
  } else if (type == "Digits") {
    // Rust's char::is_numeric is \p{N}; runs stay together unless individual_digits.
    const bool individual = bool_or(spec, "individual_digits", false, path, where);
    add_split(out.pre_tokenizer, R"(\p{N})", false,
              individual ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false, path, where);
  } else if (type == "BertPreTokenizer") {
    out.pre_tokenizer.add(BertSplit{});
  } else if (type == "Whitespace") {
    add_split(out.pre_tokenizer, R"(\w+|[^\w\s]+)", false, SplitBehavior::Removed, true, path, where);
  } else if (type == "WhitespaceSplit") {
    add_split(out.pre_tokenizer, R"(\s+)", false, SplitBehavior::Removed, false, path, where);
  } else if (type == "Punctuation") {
    add_split(out.pre_tokenizer, R"([\p{P}!-/:-@\[-`{-~])", false, parse_behavior(spec, path, where),
              false, path, where);
  } else {
    throw FormatError(path, "pre_tokenizer type '" + type + "' is not supported");
  }
}

int32_t checked_id(const json& value, const Vocabulary& vocab, const std::string& path,
                   const std::string& where) {
  const int64_t id = as_int(value, path, where);
  if (id < 0 || id >= vocab.size() || !vocab.has_id(static_cast<int32_t>(id)))
    throw FormatError(path, where + ": id " + std::to_string(id) + " is not in the vocabulary");
  return static_cast<int32_t>(id);
}

// BertProcessing / RobertaProcessing: "cls": ["[CLS]", 101], "sep": ["[SEP]", 102].
int32_t processor_token(const json& spec, const char* key, const Vocabulary& vocab,
                        const std::string& path) {
  const json* pair = field(spec, key);
  if (!pair || !pair->is_array() || pair->size() != 2)
    throw FormatError(path, std::string("post_processor.") + key + " must be [token, id]");
  return checked_id((*pair)[1], vocab, path, std::string("post_processor.") + key);
}

void add_post_processor(ParsedPostProcessor& out, const json& spec, const Vocabulary& vocab,
                        const std::string& path, int depth) {
  const std::string where = "post_processor";
  if (depth > kMaxNesting) throw FormatError(path, where + ": Sequence nested too deeply");
  const std::string type = type_of(spec, path, where);
  if (type == "Sequence") {
    for (const json& step : array_field(spec, "processors", path, where))
      add_post_processor(out, step, vocab, path, depth + 1);
  } else if (type == "ByteLevel") {
    // Only adjusts offsets.
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    out.prefix.push_back(processor_token(spec, "cls", vocab, path));
    out.suffix.insert(out.suffix.begin(), processor_token(spec, "sep", vocab, path));
  } else if (type == "TemplateProcessing") {
    const json* specials = field(spec, "special_tokens");
    if (specials && !specials->is_object())
      throw FormatError(path, where + ".special_tokens must be an object");
    bool after_sequence = false;
    for (const json& item : array_field(spec, "single", path, where)) {
      if (field(item, "Sequence")) {
        after_sequence = true;
        continue;
      }
      const json* special = field(item, "SpecialToken");
      if (!special) throw FormatError(path, where + ".single: items must be Sequence or SpecialToken");
      const std::string name = string_field(*special, "id", path, where + ".single.SpecialToken");
      const json* entry = specials ? field(*specials, name.c_str()) : nullptr;
      if (!entry) throw FormatError(path, where + ": special token '" + name + "' is not defined");
      std::vector<int32_t>& target = after_sequence ? out.suffix : out.prefix;
      for (const json& id : array_field(*entry, "ids", path, where + ".special_tokens." + name))
        target.push_back(checked_id(id, vocab, path, where + ".special_tokens." + name));
    }
  } else {
    throw FormatError(path, "post_processor type '" + type + "' is not supported");
  }
}

}  // namespace

Normalizer parse_normalizer(const json& spec, const std::string& path) {
  Normalizer out;
  if (!spec.is_null()) add_normalizer(out, spec, path, 0);
  return out;
}

ParsedPreTokenizer parse_pre_tokenizer(const json& spec, const std::string& path) {
  ParsedPreTokenizer out;
  int steps = 0;
  if (!spec.is_null()) add_pre_tokenizer(out, spec, path, 0, steps);
  return out;
}

ParsedPostProcessor parse_post_processor(const json& spec, const Vocabulary& vocab,
                                         const std::string& path) {
  ParsedPostProcessor out;
  if (!spec.is_null()) add_post_processor(out, spec, vocab, path, 0);
  return out;
}

}  // namespace mnemo::tok

#include "normalizer.h"

#include "utf8.h"

namespace mnemo::tok {
namespace {

// Calls fn(code_point) for each valid character and copies invalid bytes to `out` untouched.
template <typename Fn>
void for_each_code_point(std::string_view text, std::string& out, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = utf8_sequence_length(text, pos);
    if (length == 0) {
      out.push_back(text[pos++]);
      continue;
    }
    fn(decode_utf8_at(text, pos, length));
    pos += length;
  }
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_code_point(text, out, [&](char32_t cp) { append_lowercase(out, cp); });
  return out;
}

// Drops nonspacing marks. The StripAccents step expects an NFD step before it (as in Hugging
// Face); BERT's normaliser decomposes itself.
std::string drop_nonspacing_marks(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for_each_code_point(text, out, [&](char32_t cp) {
    if (!is_nonspacing_mark(cp)) append_utf8(out, cp);
  });
  return out;
}

// Hugging Face BertNormalizer, in its order: clean, CJK padding, accents, lowercase.
std::string bert_normalize(std::string_view text, const BertNormalization& options) {
  std::string out;
  out.reserve(text.size() + 8);
  for_each_code_point(text, out, [&](char32_t cp) {
    if (options.clean_text) {
      if (cp == 0 || cp == 0xFFFD) return;
      const bool kept_control = cp == '\t' || cp == '\n' || cp == '\r';
      if (!kept_control && is_control(cp)) return;
      if (is_whitespace(cp)) cp = ' ';
    }
    if (options.chinese_chars && is_chinese_char(cp)) {
      out.push_back(' ');
      append_utf8(out, cp);
      out.push_back(' ');
      return;
    }
    append_utf8(out, cp);
  });
  if (options.strip_accents) out = drop_nonspacing_marks(normalize_unicode(out, NormalForm::NFD));
  if (options.lowercase) out = lowercase(out);
  return out;
}

}  // namespace

std::string Normalizer::apply(std::string_view text) const {
  std::string current(text);
  for (const Step& step : steps_) {
    if (const auto* form = std::get_if<NormalForm>(&step)) {
      current = normalize_unicode(current, *form);
    } else if (std::holds_alternative<Lowercase>(step)) {
      current = lowercase(current);
    } else if (std::holds_alternative<StripAccents>(step)) {
      current = drop_nonspacing_marks(current);
    } else {
      current = bert_normalize(current, std::get<BertNormalization>(step));
    }
  }
  return current;
}

}  // namespace mnemo::tok

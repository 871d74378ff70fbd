// The Unicode properties the normalizers and the BERT pre-tokenizer need (via utf8proc), with
// the same definitions as Hugging Face tokenizers (Rust's char::is_whitespace etc.).
#pragma once

#include <string>
#include <string_view>

namespace mnemo::tok {

bool is_whitespace(char32_t cp);          // Unicode White_Space
bool is_control(char32_t cp);             // categories Cc, Cf, Cn, Co
bool is_punctuation(char32_t cp);         // categories P*, or ASCII punctuation ($, +, <, ...)
bool is_nonspacing_mark(char32_t cp);     // category Mn
bool is_chinese_char(char32_t cp);        // the CJK ideograph blocks BERT pads with spaces
void append_lowercase(std::string& out, char32_t cp);  // full lowercase (İ → i + U+0307)

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// Normalises valid UTF-8; invalid bytes are left as they are, between normalised runs.
std::string normalize_unicode(std::string_view text, NormalForm form);

}  // namespace mnemo::tok

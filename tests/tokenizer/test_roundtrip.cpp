// decode(encode(s)) == s for byte-level BPE: random valid UTF-8 (fixed seed), arbitrary bytes
// (documented: invalid UTF-8 is encoded byte by byte and comes back unchanged), and long
// pathological inputs that must stay fast (a megabyte-long word, long whitespace runs).
#include <chrono>
#include <random>

#include <gtest/gtest.h>

#include "mnemo/core/error.h"
#include "tokenizer_test_util.h"
#include "utf8.h"

namespace mnemo::tok::test {
namespace {

// Characters from the ranges that stress tokenizers: ASCII, whitespace, Latin-1 accents,
// combining marks, CJK, Hangul, Arabic, emoji (with ZWJ and skin tones), digits of other scripts.
std::string random_utf8(std::mt19937& rng, size_t max_chars) {
  static const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E}, {0x20, 0x7E}, {0x20, 0x7E}, {0x09, 0x0D},   {0xA0, 0xFF},
      {0x300, 0x36F}, {0x4E00, 0x4FFF}, {0xAC00, 0xAD00}, {0x600, 0x6FF},
      {0x1F300, 0x1F64F}, {0x1F3FB, 0x1F3FF}, {0x200B, 0x200D}, {0x660, 0x669},
      {0x1, 0x1F}, {0x10000, 0x10FFFF}};
  std::uniform_int_distribution<size_t> length(0, max_chars);
  std::uniform_int_distribution<size_t> pick(0, ranges.size() - 1);
  std::string out;
  for (size_t n = length(rng); n > 0; --n) {
    const auto [lo, hi] = ranges[pick(rng)];
    char32_t cp = std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    append_utf8(out, cp);
  }
  return out;
}

struct RoundTripParam {
  const char* tokenizer;
  int representable_bytes;  // bytes with a token of their own: 256 for a full byte alphabet
};

void PrintTo(const RoundTripParam& p, std::ostream* os) { *os << p.tokenizer; }

class ByteLevelRoundTrip : public ::testing::TestWithParam<RoundTripParam> {
 protected:
  // Round-trip is exact for text whose every byte has a token. SmolLM2's vocabulary lacks 21
  // byte tokens (0x04, 0xF1, 0xFF, ...): such bytes encode to <unk>, as in Hugging Face.
  void SetUp() override {
    const Tokenizer& tok = shared(GetParam().tokenizer);
    int count = 0;
    for (int b = 0; b < 256; ++b) {
      const auto ids = tok.encode(std::string(1, static_cast<char>(b)), false);
      representable_[b] = !(ids.size() == 1 && ids[0] == tok.special().unk);
      count += representable_[b];
    }
    EXPECT_EQ(count, GetParam().representable_bytes);
  }
  bool representable(const std::string& text) const {
    for (char c : text)
      if (!representable_[static_cast<unsigned char>(c)]) return false;
    return true;
  }
  bool representable_[256] = {};
};

TEST_P(ByteLevelRoundTrip, RandomValidUtf8) {
  const Tokenizer& tok = shared(GetParam().tokenizer);
  std::mt19937 rng(20241123);
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random_utf8(rng, 40);
    if (!representable(text)) continue;
    ++checked;
    ASSERT_EQ(tok.decode(tok.encode(text, false)), text) << "case " << i;
  }
  EXPECT_GT(checked, 1000);
}

TEST_P(ByteLevelRoundTrip, ArbitraryBytesIncludingInvalidUtf8) {
  const Tokenizer& tok = shared(GetParam().tokenizer);
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string text(std::uniform_int_distribution<size_t>(0, 48)(rng), '\0');
    for (char& c : text) {
      do c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
      while (!representable_[static_cast<unsigned char>(c)]);
    }
    ASSERT_EQ(tok.decode(tok.encode(text, false)), text) << "case " << i;
  }
  for (std::string text : {std::string("\xC3"), std::string("ab\xED\xA0\x80" "cd"),
                           std::string("\xF0\x9F\x98"), std::string("caf\xE9 \xE0\xBF")})
    EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
}

TEST_P(ByteLevelRoundTrip, LongPathologicalInputsStayFast) {
  const Tokenizer& tok = shared(GetParam().tokenizer);
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& text :
       {std::string(1 << 20, 'a'), std::string(1 << 20, ' '), std::string(1 << 18, '\n'),
        std::string(1 << 19, '7'), std::string(1 << 18, '!') + "x"}) {
    EXPECT_EQ(tok.decode(tok.encode(text, false)), text);
  }
  // Quadratic merging of a 1 MB word would take minutes.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, ByteLevelRoundTrip,
                         ::testing::Values(RoundTripParam{"smollm2_gguf", 235},
                                           RoundTripParam{"tiny_bpe_json", 256},
                                           RoundTripParam{"tiny_bpe_vocab_merges", 256},
                                           RoundTripParam{"tiny_llama3_json", 256}),
                         [](const auto& info) { return std::string(info.param.tokenizer); });

TEST(WordPieceInput, InvalidUtf8IsRefusedWithAnError) {
  const Tokenizer& tok = shared("minilm_json");
  EXPECT_THROW(tok.encode("caf\xE9", false), mnemo::Error);
  EXPECT_THROW(tok.encode(std::string("ok\xC0\x80"), true), mnemo::Error);
}

TEST(WordPieceInput, RandomValidUtf8NeverFailsAndDecodesToText) {
  const Tokenizer& tok = shared("minilm_json");
  std::mt19937 rng(99);
  for (int i = 0; i < 1000; ++i) {
    const std::string text = random_utf8(rng, 40);
    const auto ids = tok.encode(text, true);
    ASSERT_GE(ids.size(), 2u);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size());
    EXPECT_TRUE(is_valid_utf8(tok.decode(ids, true)));
  }
}

TEST(WordPieceInput, OverlongWordBecomesOneUnknown) {
  const Tokenizer& tok = shared("minilm_json");
  EXPECT_EQ(tok.encode(std::string(101, 'a'), false), std::vector<int32_t>{100});
  EXPECT_NE(tok.encode(std::string(100, 'a'), false), std::vector<int32_t>{100});
}

}  // namespace
}  // namespace mnemo::tok::test

// The internal pieces with properties of their own: GPT-2's byte alphabet, UTF-8 validation,
// Hugging Face's split behaviours, BERT normalisation.
#include <set>

#include <gtest/gtest.h>

#include "byte_level.h"
#include "normalizer.h"
#include "pretokenizer.h"
#include "utf8.h"

namespace mnemo::tok {
namespace {

TEST(ByteLevel, IsABijectionOverAllBytes) {
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) seen.insert(byte_level_char(static_cast<unsigned char>(b)));
  EXPECT_EQ(seen.size(), 256u);
  EXPECT_EQ(byte_level_char(' '), "Ġ");
  EXPECT_EQ(byte_level_char('\n'), "Ċ");
  EXPECT_EQ(byte_level_char('!'), "!");
  EXPECT_EQ(byte_level_char(0), "Ā");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(byte_level_to_bytes(bytes_to_byte_level(all), back));
  EXPECT_EQ(back, all);
  std::string ignored;
  EXPECT_FALSE(byte_level_to_bytes("日本", ignored));
}

TEST(Utf8, RejectsMalformedSequences) {
  EXPECT_TRUE(is_valid_utf8("plain, café, 東京, 🤖"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // beyond U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE6\x97"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));              // stray continuation
  EXPECT_EQ(first_invalid_utf8("ab\xFF" "c"), 2u);
}

std::vector<std::string> split_with(SplitBehavior behavior, std::string_view text) {
  PreTokenizer pre;
  pre.add(RegexSplit{std::make_shared<const Regex>("-", true), behavior, false});
  std::vector<std::string_view> pieces;
  pre.split(text, pieces);
  return {pieces.begin(), pieces.end()};
}

// The examples of Hugging Face's SplitDelimiterBehavior documentation.
TEST(PreTokenizer, SplitBehavioursMatchHuggingFace) {
  const std::string text = "the-final--countdown";
  using V = std::vector<std::string>;
  EXPECT_EQ(split_with(SplitBehavior::Removed, text), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split_with(SplitBehavior::Isolated, text), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split_with(SplitBehavior::MergedWithPrevious, text), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split_with(SplitBehavior::MergedWithNext, text), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split_with(SplitBehavior::Contiguous, text), (V{"the", "-", "final", "--", "countdown"}));
}

TEST(PreTokenizer, Gpt2PatternKeepsEveryByte) {
  PreTokenizer pre;
  pre.add_regex(kGpt2Pattern);
  std::vector<std::string_view> pieces;
  const std::string text = "Hello  world's\t\n 42x \xFF\xFE end";
  pre.split(text, pieces);
  std::string joined;
  for (auto p : pieces) joined += p;
  EXPECT_EQ(joined, text);
  EXPECT_EQ(pieces[0], "Hello");
  EXPECT_EQ(pieces[1], " ");
  EXPECT_EQ(pieces[2], " world");
  EXPECT_EQ(pieces[3], "'s");
}

TEST(Normalizer, BertCleansSplitsCjkStripsAccentsAndLowercases) {
  Normalizer n;
  n.add(BertNormalization{});
  EXPECT_EQ(n.apply("Héllo\tWÖRLD\x01 東京"), "hello world  東  京 ");
  EXPECT_EQ(n.apply("İ"), "i");  // i + U+0307, whose mark the accent stripping removes
  Normalizer cased;
  cased.add(BertNormalization{true, true, false, false});
  EXPECT_EQ(cased.apply("Héllo"), "Héllo");
}

TEST(Normalizer, NfcComposesAndPassesInvalidBytes) {
  Normalizer n;
  n.add(NormalForm::NFC);
  EXPECT_EQ(n.apply("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(n.apply("e\xCC\x81\xFF" "e\xCC\x81"), "\xC3\xA9\xFF\xC3\xA9");
}

}  // namespace
}  // namespace mnemo::tok

// Encoding equals Hugging Face tokenizers' ids exactly (goldens from
// tools/reference/make_tokenizer_golden.py), with and without special tokens, and decode
// matches its decode(skip_special_tokens=True).
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace mnemo::tok::test {
namespace {

struct GoldenParam {
  const char* tokenizer;  // load_named() name
  const char* golden;     // tests/golden/tokenizer/<golden>.json
  int32_t vocab_size;
  const char* kind;
};

void PrintTo(const GoldenParam& param, std::ostream* os) { *os << param.tokenizer; }

class GoldenTest : public ::testing::TestWithParam<GoldenParam> {};

TEST_P(GoldenTest, EncodeAndDecodeMatchHuggingFace) {
  const GoldenParam& param = GetParam();
  const Tokenizer& tok = shared(param.tokenizer);
  EXPECT_EQ(tok.vocab_size(), param.vocab_size);
  EXPECT_EQ(tok.kind(), param.kind);
  const nlohmann::json golden = read_json(golden_path(param.golden));
  ASSERT_GE(golden["cases"].size(), 40u);
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE("text: \"" + text + "\"");
    const std::vector<int32_t> ids = tok.encode(text, false);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>());
    const std::vector<int32_t> ids_special = tok.encode(text, true);
    EXPECT_EQ(ids_special, c["ids_special"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok.decode(ids_special, true), c["decoded"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, GoldenTest,
    ::testing::Values(GoldenParam{"smollm2_gguf", "smollm2", 49152, "bpe"},
                      GoldenParam{"minilm_json", "minilm", 30522, "wordpiece"},
                      GoldenParam{"minilm_vocab_txt", "minilm", 30522, "wordpiece"},
                      GoldenParam{"tiny_bpe_json", "tiny_bpe", 1000, "bpe"},
                      GoldenParam{"tiny_bpe_vocab_merges", "tiny_bpe", 1000, "bpe"},
                      GoldenParam{"tiny_llama3_json", "tiny_llama3", 802, "bpe"}),
    [](const auto& info) { return std::string(info.param.tokenizer); });

}  // namespace
}  // namespace mnemo::tok::test

// GGUF names its pre-tokenizer (tokenizer.ggml.pre) instead of spelling it out: the presets
// "gpt2" and "llama-bpe" must tokenize exactly as the tokenizer.json pipelines they stand for.
// The trained tiny vocabularies are re-expressed as GGUF metadata and checked against the same
// Hugging Face goldens.
#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace mnemo::tok::test {
namespace {

nlohmann::json gguf_from_tokenizer_json(const std::string& path, const std::string& pre) {
  const nlohmann::json doc = read_json(path);
  const auto& vocab = doc["model"]["vocab"];
  std::vector<std::string> tokens(vocab.size());
  for (const auto& [token, id] : vocab.items()) tokens.at(id.get<size_t>()) = token;
  std::vector<int> types(tokens.size(), 1);
  for (const auto& added : doc["added_tokens"]) types.at(added["id"].get<size_t>()) = 3;
  std::vector<std::string> merges;
  for (const auto& merge : doc["model"]["merges"])
    merges.push_back(merge.is_string() ? merge.get<std::string>()
                                       : merge[0].get<std::string>() + " " + merge[1].get<std::string>());
  return {{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", pre},
          {"tokenizer.ggml.tokens", tokens}, {"tokenizer.ggml.token_type", types},
          {"tokenizer.ggml.merges", merges}};
}

void expect_matches_golden(const Tokenizer& tok, const std::string& golden) {
  const nlohmann::json cases = read_json(golden_path(golden))["cases"];
  ASSERT_GE(cases.size(), 40u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(tok.encode(text, false), c["ids"].get<std::vector<int32_t>>()) << text;
  }
}

TEST(GgufPresets, Gpt2MatchesByteLevelRegex) {
  const auto tok = load_gguf_tokenizer(
      gguf_from_tokenizer_json(data_path("tiny_bpe/tokenizer.json"), "gpt2"), "tiny_bpe.gguf");
  expect_matches_golden(*tok, "tiny_bpe");
}

TEST(GgufPresets, LlamaBpeMatchesLlama3SplitAndIgnoreMerges) {
  const auto tok = load_gguf_tokenizer(
      gguf_from_tokenizer_json(data_path("tiny_llama3/tokenizer.json"), "llama-bpe"),
      "tiny_llama3.gguf");
  expect_matches_golden(*tok, "tiny_llama3");
}

}  // namespace
}  // namespace mnemo::tok::test

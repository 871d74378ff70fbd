// Tiny random GPT-2, Llama and BERT models, written by tools/reference/make_tiny_models.py in
// GGUF and Hugging Face formats (f32, f16, Q8_0, sharded), must reproduce the NumPy reference:
// logits at every position (computed step by step through the KV cache, and in one prefill),
// greedy continuations, and encoder hidden states.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mnemo/runtime/generate.h"
#include "npy.h"
#include "test_util.h"

namespace mnemo::test {
namespace {

const std::string kTinyDir = MNEMO_TINY_DIR;

nlohmann::json expected() {
  std::ifstream f(kTinyDir + "/expected.json");
  if (!f) throw std::runtime_error("missing " + kTinyDir + "/expected.json: run the runtime.write_tiny_models test first");
  return nlohmann::json::parse(f);
}

double tolerance_for(const nlohmann::json& m) {
  return m["weight_dtype"] == "q8_0" ? 1e-3 : 2e-4;
}

class TinyModel : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyModel, MatchesReference) {
  const auto all = expected();
  const auto& m = all["models"][GetParam()];
  ASSERT_FALSE(m.is_null()) << GetParam();
  auto model = open_test_model(kTinyDir + "/" + m["path"].get<std::string>());
  const auto ids = m["input_ids"].get<std::vector<int32_t>>();
  const double tol = tolerance_for(m);

  if (m["arch"] == "bert") {
    ASSERT_FALSE(model->is_decoder());
    model->forward(ids);
    const auto ref = read_npy(kTinyDir + "/" + m["hidden"].get<std::string>());
    ASSERT_EQ(model->hidden_states().size(), ref.data.size());
    const Diff d = compare(model->hidden_states(), ref.data, ref.data.size());
    EXPECT_LT(d.max_abs, tol * 10) << "hidden states";
    EXPECT_LT(d.rel_l2, tol) << "hidden states";
    return;
  }

  const auto ref = read_npy(kTinyDir + "/" + m["logits"].get<std::string>());
  const size_t vocab = static_cast<size_t>(ref.shape[1]);
  ASSERT_EQ(static_cast<size_t>(model->info().vocab_size), vocab);

  // Step by step: each position's logits come from a one-token decode step over the cache.
  model->reset();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto logits = model->forward(std::span<const int32_t>(&ids[i], 1));
    const Diff d = compare(logits, ref.data.data() + i * vocab, vocab);
    EXPECT_LT(d.max_abs, tol) << "position " << i;
  }
  // One prefill: the last position's logits.
  model->reset();
  auto logits = model->forward(ids);
  const Diff d = compare(logits, ref.data.data() + (ids.size() - 1) * vocab, vocab);
  EXPECT_LT(d.max_abs, tol) << "prefill";

  rt::Sampler greedy({});
  const auto out = rt::generate(*model, ids, 8, greedy, nullptr, nullptr, /*ignore_eos=*/true);
  EXPECT_EQ(out, m["greedy_ids"].get<std::vector<int32_t>>());
}

INSTANTIATE_TEST_SUITE_P(AllFormats, TinyModel,
                         ::testing::Values("gpt2-gguf", "gpt2-hf", "llama-gguf", "llama-gguf-q8_0", "llama-hf",
                                           "llama-hf-sharded", "bert-gguf", "bert-hf"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

TEST(TinyModels, TokenizersMatchReference) {
  const auto all = expected();
  const std::string text = all["prompt_text"];
  auto gpt2 = open_test_model(kTinyDir + "/gpt2-gguf/model.gguf");
  EXPECT_EQ(gpt2->tokenizer().encode(text, true), all["prompt_text_ids"]["bpe"].get<std::vector<int32_t>>());
  const auto wordpiece = all["prompt_text_ids"]["wordpiece"].get<std::vector<int32_t>>();
  auto bert = open_test_model(kTinyDir + "/bert-hf");
  EXPECT_EQ(bert->tokenizer().encode(text, true), wordpiece);
  // llama.cpp's GGUF form of the same WordPiece vocabulary (▁ word starts, no ##).
  auto bert_gguf = open_test_model(kTinyDir + "/bert-gguf/model.gguf");
  EXPECT_EQ(bert_gguf->tokenizer().encode(text, true), wordpiece);
}

}  // namespace
}  // namespace mnemo::test

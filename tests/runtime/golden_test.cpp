// The real checkpoints against the NumPy reference's golden outputs (tests/golden/): SmolLM2
// (GGUF, Q4_1) logits, final hidden state and greedy 32-token continuations; all-MiniLM-L6-v2
// (safetensors BERT) hidden states. Token ids come from the independent `tokenizers` library.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "mnemo/runtime/generate.h"
#include "npy.h"
#include "test_util.h"

namespace mnemo::test {
namespace {

nlohmann::json manifest(const std::string& name) {
  std::ifstream f(source_dir() + "/tests/golden/" + name);
  if (!f) throw std::runtime_error("missing tests/golden/" + name);
  return nlohmann::json::parse(f);
}

std::string golden(const std::string& rel) { return source_dir() + "/tests/golden/" + rel; }

TEST(GoldenSmolLM2, LogitsHiddenAndGreedyContinuations) {
  const auto g = manifest("smollm2.json");
  auto model = open_test_model(models_dir() + "/" + g["model"].get<std::string>());
  model->keep_hidden_states(true);
  const auto& tol = g["tolerances"]["f32_compute"];
  const int n_new = g["greedy"]["n_new"];
  for (const auto& c : g["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto ids = c["token_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(model->tokenizer().encode(c["prompt"].get<std::string>(), true), ids);

    model->reset();
    auto logits = model->forward(ids);
    const auto ref = read_npy(golden(c["logits_last"]));
    ASSERT_EQ(logits.size(), ref.data.size());
    const Diff d = compare(logits, ref.data, ref.data.size());
    EXPECT_LT(d.max_abs, tol["logits_max_abs"].get<double>());
    EXPECT_LT(d.rel_l2, tol["logits_rel_l2"].get<double>());
    EXPECT_EQ(rt::argmax(logits), c["argmax_last"].get<int32_t>());

    const auto hidden_ref = read_npy(golden(c["hidden_final_norm"]));
    const auto hidden = model->hidden_states();
    const size_t d_model = hidden_ref.data.size();
    const Diff dh = compare(hidden.data() + hidden.size() - d_model, hidden_ref.data, d_model);
    EXPECT_LT(dh.rel_l2, tol["hidden_rel_l2"].get<double>());

    rt::Sampler greedy({});
    const auto out = rt::generate(*model, ids, n_new, greedy, nullptr);
    EXPECT_EQ(out, c["greedy_ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(model->tokenizer().decode(out), c["greedy_text"].get<std::string>());
  }
}

TEST(GoldenMiniLM, HiddenStates) {
  const auto g = manifest("minilm.json");
  auto model = open_test_model(models_dir() + "/" + g["model"].get<std::string>());
  ASSERT_FALSE(model->is_decoder());
  for (const auto& c : g["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto ids = c["token_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(model->tokenizer().encode(c["text"].get<std::string>(), true), ids);
    model->forward(ids);
    const auto ref = read_npy(golden(c["hidden"]));
    ASSERT_EQ(model->hidden_states().size(), ref.data.size());
    const Diff d = compare(model->hidden_states(), ref.data, ref.data.size());
    EXPECT_LT(d.rel_l2, 1e-4);
    EXPECT_LT(d.max_abs, g["tolerances"]["hidden_max_abs"].get<double>());
  }
}

}  // namespace
}  // namespace mnemo::test

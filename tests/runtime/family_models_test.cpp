// Tiny random models of the recurrent families and a hybrid (tools/reference/make_family_models.py:
// the linear plugin's fla-layout architectures, the mamba plugin's HF-layout Mamba and Mamba-2)
// against the reference assembled around the field's own mixer references (fla-core's naive forms,
// mamba_ssm's selective_scan_ref and ssd_minimal_discrete): every block's residual stream and the
// logits, one prefill and prefill-then-decode, and a reset that clears the recurrent state.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "npy.h"
#include "test_util.h"

namespace mnemo::test {
namespace {

const std::string kDir = MNEMO_FAMILY_DIR;

const nlohmann::json& expected() { return expected_json(kDir, "families.write_models"); }

// The residual stream after each block, and what each mixer probe carried.
struct Sink : rt::ProbeSink {
  bool wants_residual() const override { return true; }
  bool wants_mixer() const override { return true; }
  bool wants_state() const override { return true; }
  void on_state(const rt::StateProbe& p) override {
    state_mixer[p.layer] = p.mixer;
    double ss = 0;
    for (int64_t i = 0; i < int64_t{p.heads} * p.rows * p.cols; ++i) ss += double{p.state[i]} * p.state[i];
    state_norm[p.layer] = ss;
    has_conv[p.layer] = p.conv != nullptr;
  }
  void on_residual(const rt::ResidualProbe& p) override {
    auto& rows = residual[p.layer];
    rows.insert(rows.end(), p.x, p.x + p.n * p.d);
  }
  void on_mixer(const rt::MixerProbe& p) override {
    const std::string kind = p.mixer;
    mixer[p.layer] = kind;
    EXPECT_GT(p.scale, 0.f) << kind << ": the implicit attention needs the mixer's scale";
    for (const auto& f : p.factors) {
      factors[p.layer].insert(f.name);
      const std::string name = f.name;
      // The factors are what the kernel consumed: keys L2-normalised for the delta rules, β a
      // sigmoid, log decays ≤ 0, Δ after softplus > 0, A = −exp(A_log) < 0.
      for (int64_t h = 0; h < f.heads; ++h)
        for (int64_t r = 0; r < f.rows; ++r) {
          const float* v = f.at(h, r);
          if (name == "k" && (kind == "delta" || kind == "gated_delta")) {
            double ss = 0;
            for (int64_t c = 0; c < f.cols; ++c) ss += double{v[c]} * v[c];
            EXPECT_NEAR(ss, 1.0, 1e-4) << kind << " key not normalised";
          }
          for (int64_t c = 0; c < f.cols; ++c) {
            if (name == "beta") {
              EXPECT_TRUE(v[c] > 0.f && v[c] < 1.f) << kind;
            } else if (name == "g") {
              EXPECT_LE(v[c], 0.f) << kind;
            } else if (name == "dt") {
              EXPECT_GT(v[c], 0.f) << kind;
            } else if (name == "A") {
              EXPECT_LT(v[c], 0.f) << kind;
            }
          }
        }
    }
  }
  std::map<int32_t, std::vector<float>> residual;
  std::map<int32_t, std::set<std::string>> factors;
  std::map<int32_t, std::string> mixer;
  std::map<int32_t, std::string> state_mixer;
  std::map<int32_t, double> state_norm;
  std::map<int32_t, bool> has_conv;
};

constexpr double kRel = 2e-4;  // relative L2 error allowed against the fp32 reference

class FamilyModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    m_ = expected()["models"][GetParam()];
    ASSERT_FALSE(m_.is_null()) << GetParam();
    ids_ = m_["input_ids"].get<std::vector<int32_t>>();
    logits_ = read_npy(kDir + "/" + m_["logits"].get<std::string>());
    vocab_ = static_cast<size_t>(logits_.shape[1]);
    model_ = open_test_model(kDir + "/" + m_["path"].get<std::string>());
    ASSERT_EQ(static_cast<size_t>(model_->info().vocab_size), vocab_);
  }
  const float* ref_logits(size_t position) const { return logits_.data.data() + position * vocab_; }

  nlohmann::json m_;
  std::vector<int32_t> ids_;
  NpyArray logits_;
  size_t vocab_ = 0;
  std::unique_ptr<rt::Model> model_;
};

TEST_P(FamilyModel, PrefillMatchesReferenceLayerByLayer) {
  Sink sink;
  model_->set_probe_sink(&sink);
  const auto logits = model_->forward(ids_);
  model_->set_probe_sink(nullptr);
  const Diff d = compare(logits, ref_logits(ids_.size() - 1), vocab_);
  EXPECT_LT(d.rel_l2, kRel) << "logits, max abs " << d.max_abs;
  RecordProperty("logits_rel_l2", std::to_string(d.rel_l2));
  std::printf("%s: logits rel L2 %.2e, max abs %.2e\n", GetParam().c_str(), d.rel_l2, d.max_abs);
  if (m_.contains("hf_logits")) {  // Mamba: Hugging Face's own class as a second reference
    const auto hf = read_npy(kDir + "/" + m_["hf_logits"].get<std::string>());
    const Diff h = compare(logits, hf.data.data() + (ids_.size() - 1) * vocab_, vocab_);
    EXPECT_LT(h.rel_l2, kRel) << "logits vs transformers, max abs " << h.max_abs;
    std::printf("%s: vs transformers rel L2 %.2e\n", GetParam().c_str(), h.rel_l2);
  }

  const auto residual = read_npy(kDir + "/" + m_["residual"].get<std::string>());
  const size_t per_layer = residual.data.size() / static_cast<size_t>(residual.shape[0]);
  ASSERT_EQ(sink.residual.size(), static_cast<size_t>(residual.shape[0]));
  for (const auto& [layer, rows] : sink.residual) {
    ASSERT_EQ(rows.size(), per_layer);
    const Diff r = compare(rows, residual.data.data() + static_cast<size_t>(layer) * per_layer, per_layer);
    EXPECT_LT(r.rel_l2, kRel) << "residual after layer " << layer << ", max abs " << r.max_abs;
  }
  // Every recurrent layer published its state after the step (non-zero after a prefill), with its
  // convolution window where it has one; softmax layers keep a KV cache, not a state.
  for (const auto& [layer, kind] : sink.mixer) {
    if (kind == "softmax") {
      EXPECT_FALSE(sink.state_mixer.count(layer)) << "layer " << layer;
      continue;
    }
    EXPECT_EQ(sink.state_mixer[layer], kind);
    EXPECT_GT(sink.state_norm[layer], 0.0) << "layer " << layer;
    const bool conv = kind == "mamba1" || kind == "mamba2" || GetParam() == "delta_net" || GetParam() == "gated_deltanet";
    EXPECT_EQ(sink.has_conv[layer], conv) << "layer " << layer;
  }
  // Every recurrent layer published its factors by name (docs/ARCHITECTURE.md, implicit attention).
  for (const auto& [layer, kind] : sink.mixer) {
    const auto& f = sink.factors[layer];
    if (kind == "softmax") continue;
    if (kind == "mamba1" || kind == "mamba2") {
      for (const char* name : {"dt", "A", "B", "C"}) EXPECT_TRUE(f.count(name)) << kind << " lacks " << name;
    } else {
      EXPECT_TRUE(f.count("q") && f.count("k")) << kind;
      const bool decays = kind == "gla" || kind == "gated_delta" || kind == "retnet";
      const bool delta = kind == "delta" || kind == "gated_delta";
      EXPECT_TRUE(!decays || f.count("g")) << kind << " lacks g";
      EXPECT_TRUE(!delta || f.count("beta")) << kind << " lacks beta";
    }
  }
}

// A prefill of the first part, then one decode step per token, gives each position's logits (the
// state continues across steps); a reset and the whole prefill again gives the first answer.
TEST_P(FamilyModel, PrefillThenDecodeEqualsOnePrefillAndResetClears) {
  const size_t split = 70;  // past one 64-token chunk
  auto first = model_->forward(std::span<const int32_t>(ids_.data(), split));
  const Diff d0 = compare(first, ref_logits(split - 1), vocab_);
  EXPECT_LT(d0.rel_l2, kRel) << "prefill of " << split;
  for (size_t i = split; i < ids_.size(); ++i) {
    auto logits = model_->forward(std::span<const int32_t>(&ids_[i], 1));
    const Diff d = compare(logits, ref_logits(i), vocab_);
    EXPECT_LT(d.rel_l2, kRel) << "decode at position " << i;
  }
  model_->reset();
  const auto fresh = model_->forward(ids_);
  const Diff d = compare(fresh, ref_logits(ids_.size() - 1), vocab_);
  EXPECT_LT(d.rel_l2, kRel) << "after reset";
}

INSTANTIATE_TEST_SUITE_P(families, FamilyModel,
                         ::testing::Values("linear_attn", "retnet", "gla", "delta_net", "gated_deltanet",
                                           "hybrid_gated_deltanet", "mamba", "mamba2"),
                         [](const auto& info) { return info.param; });

// What a plugin does not build is refused by name at load, never approximated.
TEST(FamilyModels, UnbuiltVariantsAreRefusedByName) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mnemo-families-" + std::to_string(::getpid()));
  const auto refusal = [&](const std::string& model, const std::string& key, const nlohmann::json& value) {
    fs::remove_all(dir);
    fs::copy(kDir + "/" + model, dir, fs::copy_options::recursive);
    nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir / "config.json"));
    cfg[key] = value;
    std::ofstream(dir / "config.json") << cfg.dump();
    try {
      open_test_model(dir.string());
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(refusal("linear_attn", "feature_map", "hedgehog").find("feature map 'hedgehog'"), std::string::npos);
  EXPECT_NE(refusal("retnet", "use_short_conv", true).find("use_short_conv"), std::string::npos);
  EXPECT_NE(refusal("gla", "num_kv_heads", 2).find("num_kv_heads"), std::string::npos);
  EXPECT_NE(refusal("gated_deltanet", "num_v_heads", 4).find("num_v_heads"), std::string::npos);
  const nlohmann::json windowed = {{"layers", {1}}, {"num_heads", 4}, {"num_kv_heads", 2}, {"window_size", 16}};
  EXPECT_NE(refusal("hybrid_gated_deltanet", "attn", windowed).find("window_size"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mnemo::test

// Layer descriptors drive the host: the transformer plugin declares softmax + kv_cache layers; a
// hybrid test plugin (fake_plugins/hybrid.cpp) gets a KV memory per softmax layer, shaped per
// layer, and a recurrent state for its recurrent layer, published as probes; reset clears the
// host's memory and the plugin's own state; a mixer the backend cannot run, or an unregistered
// one, is refused at load naming what is missing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "mnemo/core/error.h"
#include "mnemo/runtime/kinds.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace mnemo::test {
namespace {

const std::string kTinyLlama = std::string(MNEMO_TINY_DIR) + "/llama-gguf/model.gguf";

TEST(LayerDescriptors, TransformerLayersAreSoftmaxOverAKvCache) {
  for (const char* family : {"llama-gguf/model.gguf", "gpt2-gguf/model.gguf", "bert-hf"}) {
    auto model = open_test_model(std::string(MNEMO_TINY_DIR) + "/" + family);
    const auto& info = model->info();
    ASSERT_EQ(model->layers().size(), static_cast<size_t>(info.n_layers)) << family;
    for (const auto& L : model->layers()) {
      EXPECT_EQ(L.mixer, "softmax");
      EXPECT_EQ(L.memory, "kv_cache");
      EXPECT_EQ(L.n_heads, info.n_heads);
      EXPECT_EQ(L.n_kv_heads, info.n_kv_heads);
      EXPECT_EQ(L.key_dim, info.head_dim);
      EXPECT_EQ(L.mask.pattern, model->is_decoder() ? MaskPattern::Causal : MaskPattern::None) << family;
    }
    EXPECT_STREQ(model->backend_name(), "cpu");
  }
}

struct Recorder : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  bool wants_state() const override { return true; }
  bool wants_kv() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    mixers[p.layer] = p.n_k;
    // Rows recomputed through the visibility function sum to 1 and hide what the mask hides.
    for (int32_t h = 0; h < p.n_heads; ++h)
      for (int64_t i = 0; i < p.n_q; ++i) {
        const auto row = rt::attention_row(p, h, i);
        double sum = 0;
        for (int64_t j = 0; j < p.n_k; ++j) {
          sum += row[static_cast<size_t>(j)];
          if (!visible(p.mask, p.query_positions[static_cast<size_t>(i)], p.key_positions[static_cast<size_t>(j)], true)) {
            EXPECT_EQ(row[static_cast<size_t>(j)], 0.f);
          }
        }
        EXPECT_NEAR(sum, 1.0, 1e-5);
      }
    if (p.layer == 2) {
      EXPECT_EQ(p.mask.window, 2);
    }
  }
  void on_state(const rt::StateProbe& s) override {
    states.emplace_back(s.state, s.state + s.heads * s.rows * s.cols);
    EXPECT_EQ(s.layer, 1);
    EXPECT_STREQ(s.mixer, "fake_accumulate");
  }
  void on_kv(const rt::KvProbe& k) override { kv[k.layer] = k; }
  std::map<int32_t, int64_t> mixers;
  std::vector<std::vector<float>> states;
  std::map<int32_t, rt::KvProbe> kv;
};

class HybridModel : public ::testing::Test {
 protected:
  void SetUp() override {
    rt::register_mixer({"fake_accumulate", {"add"}, {"recurrent_state"}});
    // A mixer whose op no backend here runs (the CPU backend runs every registered family's op).
    rt::register_mixer({"fake_device_only", {"fake_device_scan"}, {"recurrent_state"}});
    dir_ = fs::temp_directory_path() / ("mnemo-hybrid-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    fs::copy_file(std::string(MNEMO_FAKE_PLUGIN_DIR) + "/hybrid.so", dir_ / "hybrid.so", fs::copy_options::overwrite_existing);
    std::ofstream(dir_ / "hybrid.json") << R"({"id": "hybrid", "version": "0.1.0", "abi": {"major": )"
                                        << MNEMO_PLUGIN_ABI_MAJOR
                                        << R"(, "minor": 0}, "library": "hybrid.so", "architectures": ["llama"]})";
    registry_ = rt::PluginRegistry::scan({dir_.string()});
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<rt::Model> open(const std::string& options = "{}") {
    rt::ModelOptions o;
    o.threads = 2;
    o.plugin_options = options;
    return rt::Model::open(kTinyLlama, o, registry_);
  }
  // The error opening with these options gives.
  std::string refusal(const std::string& options) {
    try {
      open(options);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
  rt::PluginRegistry registry_;
};

// A plugin built against ABI 2.1 (a table that ends before `segments`) loads and runs as its 2.2
// build does: the host reads no entry past the table's struct_size (the one there would abort).
TEST_F(HybridModel, APluginOfAbi21LoadsAndRunsAsItsAbi22Build) {
  const fs::path dir = dir_ / "abi21";
  fs::create_directories(dir);
  fs::copy_file(std::string(MNEMO_FAKE_PLUGIN_DIR) + "/hybrid21.so", dir / "hybrid21.so");
  std::ofstream(dir / "hybrid21.json") << R"({"id": "hybrid", "version": "0.1.0", "abi": {"major": )"
                                       << MNEMO_PLUGIN_ABI_MAJOR
                                       << R"(, "minor": 1}, "library": "hybrid21.so", "architectures": ["llama"]})";
  const rt::PluginRegistry old = rt::PluginRegistry::scan({dir.string()});
  rt::ModelOptions o;
  o.threads = 2;
  auto model21 = rt::Model::open(kTinyLlama, o, old);
  auto model22 = open();
  EXPECT_EQ(model21->segment_length(), 0) << "no segments() to ask: not a segmented model";
  const std::vector<int32_t> prompt{5, 17, 42, 99, 3};
  const auto a = model21->forward(prompt);
  const auto b = model22->forward(prompt);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "logit " << i;
}

TEST_F(HybridModel, EachLayerKeepsTheMemoryItDeclares) {
  auto model = open();
  EXPECT_EQ(model->info().n_heads, 0);  // no model-level heads: they are optional summaries
  const auto& layers = model->layers();
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[1].mixer, "fake_accumulate");
  EXPECT_EQ(layers[2].mask.pattern, MaskPattern::Window);
  const rt::ModelMemory& memory = model->memory();
  ASSERT_TRUE(memory.kv(0) && memory.state(1) && memory.kv(2));
  EXPECT_EQ(memory.kv(0)->n_kv_heads(), 1);
  EXPECT_EQ(memory.kv(0)->key_dim(), 4);
  EXPECT_EQ(memory.kv(2)->n_kv_heads(), 2);
  EXPECT_EQ(memory.kv(2)->key_dim(), 2);
  EXPECT_EQ(memory.state(1)->state().rows, 4);  // 2 heads × 2 rows

  Recorder rec;
  model->set_probe_sink(&rec);
  const std::vector<int32_t> prompt{5, 17, 42, 99, 3};
  model->forward(prompt);
  const int32_t next = 7;
  model->forward(std::span<const int32_t>(&next, 1));
  EXPECT_EQ(rec.mixers.size(), 2u);  // the softmax layers
  EXPECT_EQ(rec.mixers[2], 6);
  EXPECT_EQ(rec.kv[0].resident_ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 6}}));
  EXPECT_EQ(rec.kv[0].bytes_used, 6u * 1 * (4 + 4) * sizeof(float));
  EXPECT_EQ(rec.kv[2].bytes_used, 6u * 2 * (2 + 2) * sizeof(float));

  // The state accumulated the first 12 features of the last token of each step.
  ASSERT_EQ(rec.states.size(), 2u);
  const auto& table = model->file().find("token_embd.weight")->view;
  std::vector<float> embd(static_cast<size_t>(table.numel()));
  ASSERT_EQ(table.dtype, DType::F32);
  std::copy(table.f32(), table.f32() + table.numel(), embd.begin());
  const int64_t d = table.shape[1];
  for (int i = 0; i < 12; ++i) {
    const float after_prefill = embd[static_cast<size_t>(3 * d + i)];
    EXPECT_FLOAT_EQ(rec.states[0][static_cast<size_t>(i)], after_prefill);
    EXPECT_FLOAT_EQ(rec.states[1][static_cast<size_t>(i)], after_prefill + embd[static_cast<size_t>(7 * d + i)]);
  }

  // reset: the host empties every memory and the plugin clears its own state (it would refuse
  // position 0 otherwise).
  model->reset();
  EXPECT_EQ(model->memory().kv(0)->n_slots(), 0);
  model->forward(std::span<const int32_t>(&next, 1));
  ASSERT_EQ(rec.states.size(), 3u);
  EXPECT_FLOAT_EQ(rec.states[2][0], embd[static_cast<size_t>(7 * d)]);
}

TEST_F(HybridModel, AMixerTheBackendCannotRunIsRefusedAtLoad) {
  const std::string why = refusal(R"({"layer1": "fake_device_only"})");
  EXPECT_NE(why.find("backend 'cpu' cannot run this model"), std::string::npos) << why;
  EXPECT_NE(why.find("layers 1 (mixer 'fake_device_only') need op 'fake_device_scan'"), std::string::npos) << why;
  EXPECT_NE(why.find("model.gguf"), std::string::npos) << why;
}

TEST_F(HybridModel, AnUnregisteredMixerIsRefusedAtLoad) {
  const std::string why = refusal(R"({"layer1": "fake_unheard_of"})");
  EXPECT_NE(why.find("layer 1: mixer kind 'fake_unheard_of' is not registered"), std::string::npos) << why;
}

}  // namespace
}  // namespace mnemo::test

// Tiny random Recurrent Memory Transformers, Associative RMTs, Infini-attention and Titans models
// (tools/reference/make_memory_models.py: GPT-2 and Llama backbones) against the reference built
// on Hugging Face transformers' own models wrapped in the authors' memory cells (Infini-attention
// and Titans: written from the papers around HF's own modules): every position's logits whatever
// way the tokens are fed (the host cuts them at segment boundaries), the memory each segment leaves (RMT:
// its memory rows; ARMT: what each memory row wrote into each layer's associative memory; Infini:
// each layer's compressive memory), the rows the probes see, and a reset that empties it.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "npy.h"
#include "test_util.h"

namespace mnemo::test {
namespace {

const std::string kDir = MNEMO_MEMORY_MODEL_DIR;

const nlohmann::json& expected() { return expected_json(kDir, "memory.write_models"); }

constexpr double kRel = 2e-4;  // relative L2 error allowed against the fp32 reference

// What the probes carried: the memory published per segment and role, the steps, and the rows of
// layer 0's attention.
struct Sink : rt::ProbeSink {
  bool wants_memory() const override { return true; }
  bool wants_mixer() const override { return true; }
  bool wants_residual() const override { return true; }
  void on_memory(const rt::MemoryProbe& p) override {
    if (p.layer < 0)
      memory[{p.segment, p.role}].assign(p.x, p.x + p.n_slots * p.d);
    else
      layer_writes[{p.segment, p.layer}].assign(p.x, p.x + p.n_slots * p.d);
  }
  void on_step_begin(const rt::StepProbe& p) override { steps.push_back(p); }
  void on_mixer(const rt::MixerProbe& p) override {
    if (p.layer == 0) mixers.push_back({p.segment, std::vector<uint8_t>(p.query_roles.begin(), p.query_roles.end()),
                                        std::vector<int32_t>(p.query_ids.begin(), p.query_ids.end()),
                                        std::vector<int64_t>(p.query_positions.begin(), p.query_positions.end()), p.n_k});
  }
  void on_residual(const rt::ResidualProbe& p) override {
    residual_rows[p.layer] += p.n;
    if (p.layer == 0) residual_pos0.push_back(p.pos0);
  }
  struct Mixer {
    int32_t segment;
    std::vector<uint8_t> roles;
    std::vector<int32_t> ids;
    std::vector<int64_t> positions;
    int64_t n_keys;
  };
  std::map<std::pair<int32_t, int32_t>, std::vector<float>> memory;        // (segment, role)
  std::map<std::pair<int32_t, int32_t>, std::vector<float>> layer_writes;  // (segment, layer)
  std::vector<rt::StepProbe> steps;
  std::vector<Mixer> mixers;
  std::map<int32_t, int64_t> residual_rows;
  std::vector<int64_t> residual_pos0;
};

class MemoryModel : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    m_ = expected()["models"][GetParam()];
    ASSERT_FALSE(m_.is_null()) << GetParam();
    ids_ = m_["input_ids"].get<std::vector<int32_t>>();
    S_ = m_["segment_size"].get<int64_t>();
    M_ = m_["num_mem_tokens"].get<int64_t>();
    logits_ = read_npy(kDir + "/" + m_["logits"].get<std::string>());
    vocab_ = static_cast<size_t>(logits_.shape[1]);
    model_ = open_test_model(kDir + "/" + m_["path"].get<std::string>());
    ASSERT_EQ(static_cast<size_t>(model_->info().vocab_size), vocab_);
    ASSERT_EQ(model_->segment_length(), S_);
  }
  const float* ref_logits(size_t position) const { return logits_.data.data() + position * vocab_; }

  // Feeds the tokens in pieces of the given sizes (cycled) and checks the logits after each.
  void feed_in_pieces(std::initializer_list<size_t> sizes) {
    size_t done = 0;
    for (size_t k = 0; done < ids_.size(); ++k) {
      const size_t take = std::min(*(sizes.begin() + k % sizes.size()), ids_.size() - done);
      const auto logits = model_->forward(std::span<const int32_t>(ids_.data() + done, take));
      done += take;
      const Diff d = compare(logits, ref_logits(done - 1), vocab_);
      EXPECT_LT(d.rel_l2, kRel) << "logits at position " << done - 1 << " (pieces of " << take << "), max abs " << d.max_abs;
    }
  }

  // What each layer's memory published at the end of every complete segment (ref: [segments]
  // [layers][rows][cols]) is the reference's, once per segment and layer.
  void expect_layer_memories(const Sink& sink, const NpyArray& ref, int round) const {
    const int64_t full = ref.shape[0], layers = ref.shape[1];
    const size_t per = static_cast<size_t>(ref.shape[2] * ref.shape[3]);
    ASSERT_EQ(sink.layer_writes.size(), static_cast<size_t>(full * layers)) << "one per complete segment and layer";
    for (int64_t s = 0; s < full; ++s)
      for (int64_t l = 0; l < layers; ++l) {
        const auto& got = sink.layer_writes.at({static_cast<int32_t>(s), static_cast<int32_t>(l)});
        ASSERT_EQ(got.size(), per) << "segment " << s << " layer " << l;
        const Diff w = compare(got, ref.data.data() + static_cast<size_t>(s * layers + l) * per, per);
        EXPECT_LT(w.rel_l2, kRel) << "layer " << l << " at the end of segment " << s << " (round " << round << ")";
      }
  }

  nlohmann::json m_;
  std::vector<int32_t> ids_;
  int64_t S_ = 0, M_ = 0;
  NpyArray logits_;
  size_t vocab_ = 0;
  std::unique_ptr<rt::Model> model_;
};

TEST_P(MemoryModel, EveryPositionMatchesTheReferenceOneTokenAtATime) { feed_in_pieces({1}); }

// However the tokens arrive (one prefill crossing every boundary, pieces that straddle them), the
// host cuts them at segment boundaries and the memory carries the same way.
TEST_P(MemoryModel, PiecesThatCrossSegmentsGiveTheSameLogits) {
  feed_in_pieces({static_cast<size_t>(ids_.size())});
  model_->reset();
  feed_in_pieces({5, 23, 2});
  model_->reset();
  feed_in_pieces({static_cast<size_t>(S_ > 0 ? S_ : 16)});  // Titans is not cut into segments
}

using RecurrentMemoryModel = MemoryModel;
using AssociativeMemoryModel = MemoryModel;
using InfiniModel = MemoryModel;

// The memory each complete segment leaves is the reference's mem_{s+1}; the one each segment
// reads is mem_s; a reset brings back the learned mem_0.
TEST_P(RecurrentMemoryModel, MemoryAfterEachSegmentMatchesTheReference) {
  const auto ref = read_npy(kDir + "/" + m_["memory"].get<std::string>());
  const size_t per = static_cast<size_t>(M_) * static_cast<size_t>(ref.shape[2]);
  const int64_t full = static_cast<int64_t>(ids_.size()) / S_;
  ASSERT_EQ(ref.shape[0], full + 1);
  for (int round = 0; round < 2; ++round) {
    Sink sink;
    model_->set_probe_sink(&sink);
    model_->forward(ids_);
    model_->set_probe_sink(nullptr);
    for (int64_t s = 0; s <= full; ++s) {
      const auto& read = sink.memory[{static_cast<int32_t>(s), MNEMO_ROW_MEMORY_READ}];
      ASSERT_EQ(read.size(), per) << "segment " << s << " read";
      const Diff r = compare(read, ref.data.data() + static_cast<size_t>(s) * per, per);
      EXPECT_LT(r.rel_l2, kRel) << "memory read by segment " << s << " (round " << round << ")";
      if (s == full) {
        EXPECT_FALSE(sink.memory.count({static_cast<int32_t>(s), MNEMO_ROW_MEMORY_WRITE})) << "a partial segment writes nothing";
        continue;
      }
      const auto& write = sink.memory[{static_cast<int32_t>(s), MNEMO_ROW_MEMORY_WRITE}];
      ASSERT_EQ(write.size(), per);
      const Diff w = compare(write, ref.data.data() + static_cast<size_t>(s + 1) * per, per);
      EXPECT_LT(w.rel_l2, kRel) << "memory written by segment " << s;
    }
    // One step per segment; each begins its segment with empty KV memories.
    ASSERT_EQ(sink.steps.size(), static_cast<size_t>(full + 1));
    for (size_t i = 0; i < sink.steps.size(); ++i) {
      EXPECT_EQ(sink.steps[i].segment, static_cast<int32_t>(i));
      EXPECT_TRUE(sink.steps[i].segment_start);
      EXPECT_EQ(sink.steps[i].pos0, static_cast<int64_t>(i) * S_);
    }
    // The attention probe names its rows: M read slots, the tokens by their positions in the
    // sequence, M write slots; positions are the rows' places within the segment.
    ASSERT_EQ(sink.mixers.size(), sink.steps.size());
    const auto& first = sink.mixers[0];
    ASSERT_EQ(first.roles.size(), static_cast<size_t>(S_ + 2 * M_));
    for (int64_t r = 0; r < S_ + 2 * M_; ++r) {
      const bool read = r < M_, write = r >= M_ + S_;
      EXPECT_EQ(first.roles[r], read ? MNEMO_ROW_MEMORY_READ : write ? MNEMO_ROW_MEMORY_WRITE : MNEMO_ROW_TOKEN);
      EXPECT_EQ(first.ids[r], read ? r : write ? r - M_ - S_ : r - M_);
      EXPECT_EQ(first.positions[r], r);
    }
    EXPECT_EQ(first.n_keys, S_ + 2 * M_);
    const auto& second = sink.mixers[1];
    EXPECT_EQ(second.segment, 1);
    EXPECT_EQ(second.ids[static_cast<size_t>(M_)], S_) << "the first token of segment 1 is the sequence's position S";
    EXPECT_EQ(second.n_keys, S_ + 2 * M_) << "segment 1's keys are its own rows only";
    // Residual probes see the tokens only, at their positions in the sequence.
    EXPECT_EQ(sink.residual_rows[0], static_cast<int64_t>(ids_.size()));
    ASSERT_EQ(sink.residual_pos0.size(), sink.steps.size());
    for (size_t i = 0; i < sink.steps.size(); ++i) EXPECT_EQ(sink.residual_pos0[i], sink.steps[i].pos0);
    model_->reset();
  }
}

// A config the plugin cannot run is refused at load, naming what is wrong.
TEST(MemoryModels, BadConfigsAreRefusedByName) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mnemo-rmt-" + std::to_string(::getpid()));
  const auto refusal = [&](const std::string& key, const nlohmann::json& value, const std::string& model = "rmt_gpt2") {
    fs::remove_all(dir);
    fs::copy(kDir + "/" + model, dir, fs::copy_options::recursive);
    nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir / "config.json"));
    if (value.is_null()) cfg.erase(key);
    else cfg[key] = value;
    std::ofstream(dir / "config.json") << cfg.dump();
    try {
      open_test_model(dir.string());
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("(opened)");
  };
  auto says = [](const std::string& got, const std::string& want) {
    EXPECT_NE(got.find(want), std::string::npos) << "wanted '" << want << "' in: " << got;
    EXPECT_NE(got.find("mnemo-rmt-"), std::string::npos) << "names the model: " << got;
  };
  says(refusal("num_mem_tokens", nullptr), "no integer 'num_mem_tokens'");
  says(refusal("segment_size", 0), "'segment_size' = 0 is outside");
  says(refusal("segment_size", 60), "needs 68 positions; the backbone has 64");
  says(refusal("backbone", "mamba"), "rmt backbone 'mamba' is not one of");
  says(refusal("num_mem_tokens", 5), "tensor 'memory' has shape [4, 32], expected [5, 32]");
  says(refusal("d_mem", nullptr, "armt_gpt2"), "no integer 'd_mem'");
  says(refusal("memory_heads", 3, "armt_gpt2"), "'memory_heads' = 3 does not divide d_mem = 8 and d_model = 32");
  says(refusal("d_mem", 16, "armt_gpt2"), "tensor 'associative.0.W_mq.weight' has shape [8, 32], expected [16, 32]");
  says(refusal("dpfp_nu", 0, "armt_llama"), "'dpfp_nu' = 0 is outside 1 .. 8");
  says(refusal("segment_size", 61, "armt_llama"), "needs 65 positions; the backbone has 64");
  says(refusal("memory_update", "hebbian", "infini_llama"), "'memory_update' = 'hebbian' is not one of 'linear', 'delta'");
  says(refusal("segment_size", 65, "infini_gpt2"), "a segment of 65 tokens needs as many positions; the backbone has 64");
  says(refusal("backbone", "bert", "infini_gpt2"), "infini backbone 'bert' is not one of");
  says(refusal("memory_head_dim", nullptr, "titans_llama"), "no integer 'memory_head_dim'");
  says(refusal("memory_max_lr", -0.5, "titans_llama"), "'memory_max_lr' = -0.500000 is not a positive number");
  says(refusal("memory_heads", 1, "titans_llama"), "tensor 'titans.0.W_q.weight' has shape [16, 32], expected [8, 32]");
  fs::remove_all(dir);
}

// ARMT: what each memory row writes into each layer's associative memory at the end of every
// complete segment, and nothing from a partial one; the rows are [tokens | memory rows] with no
// read rows; the layers' memories start empty again after a reset.
TEST_P(AssociativeMemoryModel, WritesOfEachSegmentAndLayerMatchTheReference) {
  const auto ref = read_npy(kDir + "/" + m_["writes"].get<std::string>());
  const int64_t full = static_cast<int64_t>(ids_.size()) / S_;
  const int64_t layers = model_->info().n_layers, d = model_->info().d_model;
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{full, layers, M_, d}));
  for (int round = 0; round < 2; ++round) {
    Sink sink;
    model_->set_probe_sink(&sink);
    feed_in_pieces({7, 16, 1});
    model_->set_probe_sink(nullptr);
    EXPECT_TRUE(sink.memory.empty()) << "ARMT carries no memory rows across segments";
    ASSERT_NO_FATAL_FAILURE(expect_layer_memories(sink, ref, round));
    // Rows of the first piece of segment 0 (7 tokens): tokens only; of the piece that completes
    // segment 0: its tokens at their positions within the segment, then the M memory rows at S..
    ASSERT_GE(sink.mixers.size(), 2u);
    EXPECT_EQ(sink.mixers[0].roles, std::vector<uint8_t>(7, MNEMO_ROW_TOKEN));
    const auto& completing = sink.mixers[1];
    ASSERT_EQ(completing.roles.size(), static_cast<size_t>(S_ - 7 + M_));
    for (int64_t r = 0; r < S_ - 7 + M_; ++r) {
      const bool memory_row = r >= S_ - 7;
      EXPECT_EQ(completing.roles[r], memory_row ? MNEMO_ROW_MEMORY_WRITE : MNEMO_ROW_TOKEN);
      EXPECT_EQ(completing.ids[r], memory_row ? r - (S_ - 7) : 7 + r);
      EXPECT_EQ(completing.positions[r], 7 + r);
    }
    EXPECT_EQ(completing.n_keys, S_ + M_);
    model_->reset();
  }
}

// Infini-attention: each layer's compressive memory after every complete segment ([kv heads x
// d_k][d_v], published inside the layer), nothing from a partial one; the rows are the tokens at
// their places within the segment, named by their positions in the sequence.
TEST_P(InfiniModel, EachLayersMemoryAfterEverySegmentMatchesTheReference) {
  const auto ref = read_npy(kDir + "/" + m_["memory"].get<std::string>());
  const int64_t full = static_cast<int64_t>(ids_.size()) / S_;
  const auto info = model_->info();
  const int64_t layers = info.n_layers, rows = int64_t{info.n_kv_heads} * info.head_dim;
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{full, layers, rows, info.head_dim}));
  for (int round = 0; round < 2; ++round) {
    Sink sink;
    model_->set_probe_sink(&sink);
    feed_in_pieces({5, 16, 1});
    model_->set_probe_sink(nullptr);
    EXPECT_TRUE(sink.memory.empty()) << "no memory rows";
    ASSERT_NO_FATAL_FAILURE(expect_layer_memories(sink, ref, round));
    // The second piece (16 tokens from position 5) is cut at the boundary: 11 tokens of segment
    // 0, at places 5 .., then 5 of segment 1 at places 0 ...
    ASSERT_GE(sink.mixers.size(), 3u);
    for (size_t i = 1; i <= 2; ++i) {
      const auto& piece = sink.mixers[i];
      const int64_t place0 = i == 1 ? 5 : 0, id0 = i == 1 ? 5 : S_, n = i == 1 ? S_ - 5 : 5;
      ASSERT_EQ(piece.roles, std::vector<uint8_t>(static_cast<size_t>(n), MNEMO_ROW_TOKEN));
      for (int64_t r = 0; r < n; ++r) {
        EXPECT_EQ(piece.positions[r], place0 + r);
        EXPECT_EQ(piece.ids[r], id0 + r);
      }
      EXPECT_EQ(piece.n_keys, place0 + n) << "keys of the segment so far";
    }
    model_->reset();
  }
}

INSTANTIATE_TEST_SUITE_P(memory, MemoryModel,
                         ::testing::Values("rmt_gpt2", "rmt_llama", "armt_gpt2", "armt_llama", "infini_gpt2", "infini_llama",
                                           "infini_llama_linear", "titans_llama", "titans_gpt2"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(infini, InfiniModel, ::testing::Values("infini_gpt2", "infini_llama", "infini_llama_linear"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(rmt, RecurrentMemoryModel, ::testing::Values("rmt_gpt2", "rmt_llama"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(armt, AssociativeMemoryModel, ::testing::Values("armt_gpt2", "armt_llama"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mnemo::test

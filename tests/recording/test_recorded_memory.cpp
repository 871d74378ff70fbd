// A recurrent memory transformer recorded (the tiny rmt models of memory.write_models): the memory
// each segment reads, as the session keeps it (_memory_snapshot, fp16), against the engine's own
// memory probe; and its token rows' attention, held by sequence position under the mask
// "segments", against the engine's probabilities.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <cstdio>
#include <map>

#include "../runtime/test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/profiler/session/memory_lineage.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/record/record_run.h"
#include "recording_test_util.h"

namespace mnemo::test {
namespace {

const std::string kMemoryDir = MNEMO_MEMORY_MODEL_DIR;
const char* const kPrompt = "The capital of France is Paris. The quick brown fox jumps over the lazy dog.";

record::RecordRequest request(const std::string& file, const std::string& captures) {
  record::RecordRequest req;
  req.session_path = temp_session("mnemo-rmt", file);
  req.prompt = kPrompt;
  req.n_new = 30;
  req.sampling.temperature = 0;
  req.captures = record::Captures::parse(captures);
  return req;
}

// Each memory mem_s as the engine publishes it: read by segment 0 (mem_0), written by s − 1.
struct MemorySink : rt::ProbeSink {
  bool wants_memory() const override { return true; }
  void on_memory(const rt::MemoryProbe& p) override {
    if (p.role == rt::kRowMemoryRead && p.segment != 0) return;
    const int32_t s = p.role == rt::kRowMemoryRead ? 0 : p.segment + 1;
    memory[s].assign(p.x, p.x + p.n_slots * p.d);
  }
  std::map<int32_t, std::vector<float>> memory;
};

// A snapshot holds the engine's rows in fp16 and their fp32 norms.
void expect_snapshot_is(const profiler::MemorySnapshotRecord& m, const std::vector<float>& want) {
  ASSERT_EQ(static_cast<size_t>(m.rows * m.cols), want.size());
  for (int64_t i = 0; i < m.rows; ++i) {
    double ss = 0;
    for (int64_t c = 0; c < m.cols; ++c) {
      const float v = want[static_cast<size_t>(i * m.cols + c)];
      ss += double{v} * v;
      EXPECT_NEAR(fp16_to_f32(m.data[static_cast<size_t>(i * m.cols + c)]), v, 1e-3 * (1 + std::fabs(v)));
    }
    EXPECT_NEAR(m.norms[static_cast<size_t>(i)], std::sqrt(ss), 1e-5 * (1 + std::sqrt(ss)));
  }
}

class RecordedMemory : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordedMemory, EverySegmentsMemoryIsKeptOnce) {
  auto model = open_test_model(kMemoryDir + "/" + GetParam());
  const record::RecordRequest req = request(GetParam() + ".mnemo", "kv,ops,memory");
  const record::RecordResult r = record::record_run(*model, req);
  MemorySink engine;
  const auto out = generate_with_sink(*model, req, engine);
  EXPECT_EQ(model->tokenizer().decode(out), r.generated_text) << "recording changed the generated text";

  profiler::SessionReader reader(req.session_path);
  const auto snapshots = reader.memory_snapshots(r.run_id);
  // Every complete segment leaves a memory, and the first reads the learned one.
  const int64_t tokens = reader.run(r.run_id).n_tokens;
  ASSERT_GE(tokens / model->segment_length(), 2) << "the run should cross segments";
  ASSERT_EQ(snapshots.size(), engine.memory.size());
  EXPECT_EQ(static_cast<int64_t>(snapshots.size()), (tokens - 1) / model->segment_length() + 1);
  for (const auto& m : snapshots) {
    SCOPED_TRACE("memory read by segment " + std::to_string(m.segment));
    EXPECT_EQ(m.kind, "memory_tokens");
    EXPECT_EQ(m.layer, model->info().n_layers - 1) << "the last layer's output";
    const auto& want = engine.memory.at(static_cast<int32_t>(m.segment));
    expect_snapshot_is(m, want);
  }
}

// The engine's probabilities of each token row over the token keys of its segment, by sequence
// position: what the session holds of a segmented model's attention.
struct TokenRows : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    for (int32_t h = 0; h < p.n_heads; ++h)
      for (int64_t i = 0; i < p.n_q; ++i) {
        if (p.query_roles[static_cast<size_t>(i)] != rt::kRowToken) continue;
        const std::vector<float> all = rt::attention_row(p, h, i);
        std::map<int64_t, float> tokens;
        double memory = 0;
        for (int64_t j = 0; j < p.n_k; ++j) {
          const int64_t key = p.key_ids[static_cast<size_t>(j)];
          if (p.key_roles[static_cast<size_t>(j)] != rt::kRowToken) memory += all[static_cast<size_t>(j)];
          else if (key <= p.query_ids[static_cast<size_t>(i)]) tokens[key] = all[static_cast<size_t>(j)];
        }
        rows[{p.layer, h, p.query_ids[static_cast<size_t>(i)]}] = tokens;
        memory_mass = std::max(memory_mass, memory);
      }
  }
  std::map<std::tuple<int, int, int64_t>, std::map<int64_t, float>> rows;
  double memory_mass = 0;  // the most any token row gave the memory slots
};

// Each token row of the session equals the engine's over the token keys of its segment (keys of
// other segments 0: the mask "segments"), and lacks exactly what the engine gave the memory slots.
TEST_P(RecordedMemory, RecordedAttentionIsTheEnginesOverTheSegmentsTokens) {
  auto model = open_test_model(kMemoryDir + "/" + GetParam());
  const record::RecordRequest req = request(GetParam() + "-attention.mnemo", "attention,metrics,pyramids,memory");
  const record::RecordResult r = record::record_run(*model, req);
  TokenRows engine;
  generate_with_sink(*model, req, engine);
  EXPECT_GT(engine.memory_mass, 0.05) << "the memory slots should draw attention";

  profiler::SessionReader reader(req.session_path);
  const int64_t S = model->segment_length();
  for (int32_t layer = 0; layer < model->info().n_layers; ++layer) {
    const profiler::MixerLayer& l = reader.layer(r.run_id, layer);
    EXPECT_EQ(l.mask, "segments");
    EXPECT_EQ(l.window, S);
  }
  double worst = 0;
  for (const auto& [key, want] : engine.rows) {
    const auto [layer, head, pos] = key;
    const std::vector<float> got = reader.row(r.run_id, layer, head, pos);
    ASSERT_GE(static_cast<int64_t>(got.size()), pos + 1);
    for (int64_t j = 0; j < static_cast<int64_t>(got.size()); ++j) {
      const auto it = want.find(j);
      const bool same_segment = j / S == pos / S && j <= pos;
      EXPECT_EQ(it != want.end(), same_segment) << "key " << j << " of row " << pos;
      const double w = it == want.end() ? 0.0 : it->second;
      worst = std::max(worst, std::abs(got[static_cast<size_t>(j)] - w));
    }
  }
  EXPECT_LT(worst, 1e-5) << "recorded vs engine probabilities";
  std::printf("%s: %zu token rows, max |recorded - engine| %.2e, most mass on memory %.3f\n", GetParam().c_str(),
              engine.rows.size(), worst, engine.memory_mass);
}

// The engine's scores between one segment's tokens and its memory slots, by (layer, head, segment):
// each token row over the read slots, each write row over read slots, tokens and write slots.
struct MemoryRows : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    for (int32_t h = 0; h < p.n_heads; ++h)
      for (int64_t i = 0; i < p.n_q; ++i) {
        const uint8_t role = p.query_roles[static_cast<size_t>(i)];
        if (role == rt::kRowMemoryRead) continue;
        const std::vector<float> all = rt::attention_row(p, h, i);
        auto& seg = rows[{p.layer, h, p.segment}];
        std::vector<float> out;
        for (int64_t j = 0; j < p.n_k; ++j) {
          const uint8_t key = p.key_roles[static_cast<size_t>(j)];
          // A token row: the read slots; a write row: every key up to itself.
          if (role == rt::kRowToken ? key == rt::kRowMemoryRead : p.key_positions[static_cast<size_t>(j)] <= p.query_positions[static_cast<size_t>(i)])
            out.push_back(all[static_cast<size_t>(j)]);
        }
        (role == rt::kRowToken ? seg.tokens : seg.writes).push_back(std::move(out));
      }
  }
  struct Segment {
    std::vector<std::vector<float>> tokens, writes;
  };
  std::map<std::tuple<int, int, int>, Segment> rows;
};

// Every score between a segment's tokens and its memory slots, recomputed by the reader from the
// recorded factors, is the engine's; a partial last segment has no writes.
TEST_P(RecordedMemory, ReadsAndWritesOfTheMemoryAreTheEngines) {
  auto model = open_test_model(kMemoryDir + "/" + GetParam());
  const record::RecordRequest req = request(GetParam() + "-reads.mnemo", "attention,memory");
  const record::RecordResult r = record::record_run(*model, req);
  MemoryRows engine;
  generate_with_sink(*model, req, engine);
  profiler::SessionReader reader(req.session_path);
  const int64_t S = model->segment_length();
  double worst = 0;
  int complete = 0, partial = 0;
  for (const auto& [key, want] : engine.rows) {
    const auto [layer, head, segment] = key;
    const profiler::SegmentAttention got = reader.segment_attention(r.run_id, layer, head, segment);
    const int64_t M = got.memory_slots;
    ASSERT_EQ(static_cast<size_t>(got.n_tokens), want.tokens.size());
    EXPECT_EQ(got.token0, segment * S);
    for (size_t t = 0; t < want.tokens.size(); ++t) {
      ASSERT_EQ(want.tokens[t].size(), static_cast<size_t>(M));
      for (int64_t j = 0; j < M; ++j)
        worst = std::max(worst, std::abs(double{got.token_reads[t * M + j]} - want.tokens[t][static_cast<size_t>(j)]));
    }
    if (want.writes.empty()) {
      EXPECT_TRUE(got.write_reads.empty()) << "segment " << segment << " wrote nothing";
      ++partial;
      continue;
    }
    ++complete;
    const int64_t width = M + S + M;
    ASSERT_EQ(got.write_reads.size(), static_cast<size_t>(M * width));
    for (int64_t i = 0; i < M; ++i) {
      const auto& w = want.writes[static_cast<size_t>(i)];
      ASSERT_EQ(w.size(), static_cast<size_t>(M + S + i + 1));
      double sum = 0;
      for (size_t j = 0; j < w.size(); ++j) {
        worst = std::max(worst, std::abs(double{got.write_reads[static_cast<size_t>(i * width) + j]} - w[j]));
        sum += got.write_reads[static_cast<size_t>(i * width) + j];
      }
      EXPECT_NEAR(sum, 1.0, 1e-4) << "a write slot's row sums to 1";
    }
  }
  EXPECT_GT(complete, 0);
  EXPECT_GT(partial, 0);
  EXPECT_LT(worst, 1e-5);
  std::printf("%s: %d complete and %d partial (layer, head, segment), max |reader - engine| %.2e\n", GetParam().c_str(),
              complete, partial, worst);
  EXPECT_THROW(reader.segment_attention(r.run_id, 0, 0, 99), Error);
}

// Every layer's head-averaged attention among each segment's rows, from the engine's probes:
// [segment][layer] → B × B over positions within the segment.
struct SegmentMatrices : rt::ProbeSink {
  explicit SegmentMatrices(int64_t rows) : B(rows) {}
  bool wants_mixer() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    auto& a = matrices[{p.segment, p.layer}];
    a.resize(static_cast<size_t>(B * B), 0.0);
    for (int32_t h = 0; h < p.n_heads; ++h)
      for (int64_t i = 0; i < p.n_q; ++i) {
        const std::vector<float> row = rt::attention_row(p, h, i);
        for (int64_t j = 0; j < p.n_k; ++j)
          a[static_cast<size_t>(p.query_positions[static_cast<size_t>(i)] * B + p.key_positions[static_cast<size_t>(j)])] +=
              double{row[static_cast<size_t>(j)]} / p.n_heads;
      }
  }
  int64_t B;
  std::map<std::pair<int32_t, int32_t>, std::vector<double>> matrices;
};

// The lineage the reader derives from the session equals the one derived from the engine's own
// probabilities, every slot's shares sum to 1, and mem_s derives only from tokens before segment s.
TEST_P(RecordedMemory, LineageFromTheSessionIsTheEnginesAndSumsToOne) {
  auto model = open_test_model(kMemoryDir + "/" + GetParam());
  const record::RecordRequest req = request(GetParam() + "-lineage.mnemo", "attention,memory");
  const record::RecordResult r = record::record_run(*model, req);
  const int64_t S = model->segment_length(), L = model->info().n_layers;
  profiler::SessionReader reader(req.session_path);
  const int64_t M = reader.segment_attention(r.run_id, 0, 0, 0).memory_slots;
  const int64_t B = 2 * M + S;
  SegmentMatrices engine(B);
  generate_with_sink(*model, req, engine);
  const int64_t complete = (reader.run(r.run_id).n_tokens - 1) / S;
  ASSERT_GE(complete, 2);

  // The engine's lineage: the same rollout over the engine's probabilities.
  std::vector<double> learned(static_cast<size_t>(M), 1.0), tokens;
  for (int64_t s = 0; s < complete; ++s) {
    std::vector<double> roll(static_cast<size_t>(B * B), 0.0);
    for (int64_t i = 0; i < B; ++i) roll[static_cast<size_t>(i * B + i)] = 1.0;
    for (int32_t l = 0; l < L; ++l) {
      const auto& a = engine.matrices.at({static_cast<int32_t>(s), l});
      std::vector<double> next(static_cast<size_t>(B * B), 0.0);
      for (int64_t i = 0; i < B; ++i)
        for (int64_t k = 0; k < B; ++k) {
          const double ahat = 0.5 * a[static_cast<size_t>(i * B + k)] + (i == k ? 0.5 : 0.0);
          for (int64_t j = 0; j < B; ++j) next[static_cast<size_t>(i * B + j)] += ahat * roll[static_cast<size_t>(k * B + j)];
        }
      roll = std::move(next);
    }
    const int64_t n_before = s * S, n_after = (s + 1) * S;
    std::vector<double> learned2(static_cast<size_t>(M), 0.0), tokens2(static_cast<size_t>(M * n_after), 0.0);
    for (int64_t i = 0; i < M; ++i) {
      const double* w = roll.data() + (M + S + i) * B;
      for (int64_t j = 0; j < M; ++j) {
        const double share = w[j] + w[M + S + j];
        learned2[static_cast<size_t>(i)] += share * learned[static_cast<size_t>(j)];
        for (int64_t u = 0; u < n_before; ++u)
          tokens2[static_cast<size_t>(i * n_after + u)] += share * tokens[static_cast<size_t>(j * n_before + u)];
      }
      for (int64_t t = 0; t < S; ++t) tokens2[static_cast<size_t>(i * n_after + n_before + t)] += w[M + t];
    }
    learned = std::move(learned2), tokens = std::move(tokens2);

    const profiler::MemoryLineage got = profiler::memory_lineage(reader, r.run_id, s + 1);
    ASSERT_EQ(got.n_positions, n_after);
    double worst = 0;
    for (int64_t i = 0; i < M; ++i) {
      double sum = got.learned[static_cast<size_t>(i)];
      worst = std::max(worst, std::abs(sum - learned[static_cast<size_t>(i)]));
      for (int64_t u = 0; u < n_after; ++u) {
        const double v = got.tokens[static_cast<size_t>(i * n_after + u)];
        sum += v;
        worst = std::max(worst, std::abs(v - tokens[static_cast<size_t>(i * n_after + u)]));
      }
      EXPECT_NEAR(sum, 1.0, 1e-4) << "slot " << i << " of mem_" << s + 1;
    }
    EXPECT_LT(worst, 1e-5) << "mem_" << s + 1;
    if (s + 1 == complete)
      std::printf("%s: lineage of mem_%lld: max |session - engine| %.2e, learned share of slot 0 %.3f\n", GetParam().c_str(),
                  static_cast<long long>(s + 1), worst, got.learned[0]);
  }
  const profiler::MemoryLineage first = profiler::memory_lineage(reader, r.run_id, 0);
  EXPECT_EQ(first.n_positions, 0);
  EXPECT_EQ(first.learned, std::vector<float>(static_cast<size_t>(M), 1.f));
  EXPECT_THROW(profiler::memory_lineage(reader, r.run_id, complete + 1), Error) << "the partial segment wrote nothing";
}

INSTANTIATE_TEST_SUITE_P(rmt, RecordedMemory, ::testing::Values("rmt_gpt2", "rmt_llama"),
                         [](const auto& info) { return info.param; });

// Memories a layer keeps (ARMT: what each memory row wrote into each layer's associative memory;
// Infini-attention: each layer's compressive memory), per complete segment, as the engine's probe
// published them; the tokens' attention stays the engine's within each segment and never reaches
// a memory row (ARMT's come after the tokens); the reader refuses read slots these models lack.
struct LayerWrites : rt::ProbeSink {
  bool wants_memory() const override { return true; }
  void on_memory(const rt::MemoryProbe& p) override {
    if (p.layer >= 0 && p.role == rt::kRowMemoryWrite) writes[{p.segment + 1, p.layer}].assign(p.x, p.x + p.n_slots * p.d);
  }
  std::map<std::pair<int64_t, int32_t>, std::vector<float>> writes;  // (segment that reads, layer)
};

class RecordedLayerMemory : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordedLayerMemory, EachLayersMemoryAndTheTokensAttentionAreTheEngines) {
  auto model = open_test_model(kMemoryDir + "/" + GetParam());
  const record::RecordRequest req = request(GetParam() + ".mnemo", "attention,metrics,memory");
  const record::RecordResult r = record::record_run(*model, req);
  LayerWrites writes;
  generate_with_sink(*model, req, writes);
  TokenRows attention;
  generate_with_sink(*model, req, attention);
  EXPECT_EQ(attention.memory_mass, 0.0) << "tokens come before the memory rows";

  profiler::SessionReader reader(req.session_path);
  const int64_t S = model->segment_length(), tokens = reader.run(r.run_id).n_tokens;
  const int32_t layers = model->info().n_layers;
  ASSERT_GE(tokens / S, 2) << "the run should cross segments";
  const auto snapshots = reader.memory_snapshots(r.run_id);
  ASSERT_EQ(static_cast<int64_t>(snapshots.size()), tokens / S * layers) << "one per complete segment and layer";
  ASSERT_EQ(snapshots.size(), writes.writes.size());
  for (const auto& m : snapshots) {
    SCOPED_TRACE("layer " + std::to_string(m.layer) + ", read by segment " + std::to_string(m.segment));
    EXPECT_EQ(m.kind, "memory_tokens");
    const auto& want = writes.writes.at({m.segment, m.layer});
    expect_snapshot_is(m, want);
  }
  double worst = 0;
  for (const auto& [key, want] : attention.rows) {
    const auto [layer, head, pos] = key;
    const std::vector<float> got = reader.row(r.run_id, layer, head, pos);
    ASSERT_GE(static_cast<int64_t>(got.size()), pos + 1);
    for (int64_t j = 0; j <= pos; ++j) {
      const auto it = want.find(j);
      EXPECT_EQ(it != want.end(), j / S == pos / S) << "key " << j << " of row " << pos;
      worst = std::max(worst, std::abs(got[static_cast<size_t>(j)] - (it == want.end() ? 0.0 : it->second)));
    }
  }
  EXPECT_LT(worst, 1e-5) << "recorded vs engine probabilities";
  try {
    reader.segment_attention(r.run_id, 0, 0, 0);
    ADD_FAILURE() << "the run has no read slots";
  } catch (const Error& e) {
    const bool armt = GetParam().starts_with("armt");
    EXPECT_NE(std::string(e.what()).find(armt ? "write rows only" : "no memory rows"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(layers, RecordedLayerMemory, ::testing::Values("armt_gpt2", "armt_llama", "infini_gpt2", "infini_llama"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mnemo::test

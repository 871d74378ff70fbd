// A recorded session against the engine that produced it: every attention row the reader
// recomputes from the stored factors (fp32 by default, fp16 on request) is compared with the
// engine's own fp32 probabilities
// (rt::attention_row on the live probe) for SmolLM2 (causal, GQA, prefill and decode steps) and
// MiniLM (bidirectional encoder). The per-head metrics and the pyramid, which the recorder takes
// from the attention kernel's own statistics, are checked against the same fp32 rows through the
// session library's independent (recompute-based) metric and pooling code. Also checks that
// recording leaves generation unchanged.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "../runtime/test_util.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/profiler/session/sqlite_db.h"
#include "mnemo/record/record_run.h"
#include "recording_test_util.h"
#include "mnemo/runtime/generate.h"

namespace mnemo::test {
namespace {

// The engine's probabilities of every (layer, head, query position), kept as the model runs, and
// which step each query position belongs to.
struct EngineRows : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    for (int32_t h = 0; h < p.n_heads; ++h)
      for (int64_t i = 0; i < p.n_q; ++i) {
        rows[{p.layer, h, p.q_pos0 + i}] = rt::attention_row(p, h, i);
        step_of[p.q_pos0 + i] = p.step;
      }
  }
  std::map<std::tuple<int, int, int64_t>, std::vector<float>> rows;
  std::map<int64_t, int64_t> step_of;
};

struct Agreement {
  double max_abs = 0, max_row_sum_err = 0;
  int64_t rows = 0;
};

Agreement compare_all(profiler::SessionReader& reader, int64_t run, const EngineRows& engine) {
  Agreement a;
  for (const auto& [key, want] : engine.rows) {
    const auto [layer, head, pos] = key;
    const std::vector<float> got = reader.row(run, layer, head, pos);
    EXPECT_EQ(got.size(), want.size()) << layer << "/" << head << "/" << pos;
    double sum = 0;
    for (size_t j = 0; j < std::min(got.size(), want.size()); ++j) {
      a.max_abs = std::max(a.max_abs, std::abs(static_cast<double>(got[j]) - want[j]));
      sum += got[j];
    }
    a.max_row_sum_err = std::max(a.max_row_sum_err, std::abs(sum - 1.0));
    ++a.rows;
  }
  return a;
}

// The recorded per-head metrics (from the kernel's row statistics) against the session library's
// HeadMetricAccumulator run over the engine's fp32 rows of each step.
void check_metrics(profiler::SessionReader& reader, int64_t run, const EngineRows& engine, const profiler::MaskSpec& mask) {
  std::map<std::tuple<int64_t, int, int>, profiler::HeadMetricAccumulator> want;
  for (const auto& [key, p] : engine.rows) {
    const auto [layer, head, pos] = key;
    const profiler::QueryRow row{pos, static_cast<int64_t>(p.size()), 0.f};
    want[{engine.step_of.at(pos), layer, head}].add_row(p, row, mask);
  }
  const auto got = reader.head_metrics(run);
  ASSERT_EQ(got.size(), want.size());
  double worst_sparsity = 0;
  for (const profiler::HeadMetricRecord& m : got) {
    const profiler::HeadMetrics w = want.at({m.step, m.layer, m.head}).result();
    SCOPED_TRACE("step " + std::to_string(m.step) + " layer " + std::to_string(m.layer) + " head " + std::to_string(m.head));
    EXPECT_NEAR(m.m.entropy, w.entropy, 1e-4 * std::max(1.0, w.entropy));
    EXPECT_NEAR(m.m.mean_distance, w.mean_distance, 1e-3 * std::max(1.0, w.mean_distance));
    EXPECT_NEAR(m.m.sink_mass, w.sink_mass, 1e-5);
    EXPECT_NEAR(m.m.sparsity, w.sparsity, 1e-5);
    worst_sparsity = std::max(worst_sparsity, std::abs(m.m.sparsity - w.sparsity));
  }
  std::printf("%zu head metrics; worst sparsity difference %.1e\n", got.size(), worst_sparsity);
}

TEST(RecordedAttention, SmolLM2RowsMatchTheEngine) {
  auto model = open_test_model(models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf");
  record::RecordRequest req;
  req.session_path = temp_session("mnemo-rec", "smollm2.mnemo");
  req.prompt = "The capital of France is Paris, and the capital of Italy is";
  req.n_new = 6;
  req.sampling.temperature = 0;
  const record::RecordResult r = record::record_run(*model, req);

  // The same generation again, unrecorded, with the engine's rows kept.
  EngineRows engine;
  const auto out = generate_with_sink(*model, req, engine);
  EXPECT_EQ(model->tokenizer().decode(out), r.generated_text) << "recording changed the generated text";

  profiler::SessionReader reader(req.session_path);
  const Agreement a = compare_all(reader, r.run_id, engine);
  EXPECT_EQ(a.rows, 30 * 9 * static_cast<int64_t>(model->tokenizer().encode(req.prompt, true).size() + req.n_new - 1));
  // fp32 factors with the engine's log-sum-exp: the score is the engine's own up to the order of
  // the dot product's sums, so p agrees to float rounding ("exact means exact").
  EXPECT_LT(a.max_abs, 1e-4);
  EXPECT_LT(a.max_row_sum_err, 1e-4);
  check_metrics(reader, r.run_id, engine, profiler::MaskSpec{});
  std::printf("SmolLM2: %lld rows, max |reader - engine| = %.2e, max |row sum - 1| = %.2e\n",
              static_cast<long long>(a.rows), a.max_abs, a.max_row_sum_err);

  // fp16 factors (--factor-dtype f16): half the bytes; SmolLM2's scores reach ~20, where fp16
  // rounding of q and k moves them by up to ~5e-3, and p by that fraction of itself.
  req.session_path = temp_session("mnemo-rec", "smollm2-f16.mnemo");
  req.factor_dtype = profiler::FactorDtype::F16;
  const record::RecordResult r16 = record::record_run(*model, req);
  profiler::SessionReader reader16(req.session_path);
  const Agreement a16 = compare_all(reader16, r16.run_id, engine);
  EXPECT_LT(a16.max_abs, 1e-2);
  EXPECT_LT(a16.max_row_sum_err, 1e-2);
  std::printf("SmolLM2, fp16 factors: max |reader - engine| = %.2e, max |row sum - 1| = %.2e\n", a16.max_abs,
              a16.max_row_sum_err);
}

TEST(RecordedAttention, MiniLMEncoderRowsMatchTheEngine) {
  auto model = open_test_model(models_dir() + "/all-MiniLM-L6-v2");
  record::RecordRequest req;
  req.session_path = temp_session("mnemo-rec", "minilm.mnemo");
  req.prompt = "Sessions keep every attention score of every head recomputable.";
  const record::RecordResult r = record::record_run(*model, req);
  EngineRows engine;
  model->set_probe_sink(&engine);
  model->reset();
  model->forward(model->tokenizer().encode(req.prompt, true));
  model->set_probe_sink(nullptr);
  profiler::SessionReader reader(req.session_path);
  EXPECT_EQ(reader.run(r.run_id).status, "complete");
  const Agreement a = compare_all(reader, r.run_id, engine);
  EXPECT_GT(a.rows, 0);
  EXPECT_LT(a.max_abs, 1e-4);
  EXPECT_LT(a.max_row_sum_err, 1e-4);
  check_metrics(reader, r.run_id, engine, profiler::MaskSpec{profiler::AttentionMask::None, 0});
  std::printf("MiniLM: %lld rows, max |reader - engine| = %.2e\n", static_cast<long long>(a.rows), a.max_abs);
}

// A writer on a core the engine lends it records exactly what a writer competing for the cores
// does: same factors, metrics, tiles, KV rows and tokens, byte for byte (the engine's parts are
// the same whichever thread runs them). The model gets a thread per core, so the recorder borrows.
TEST(RecordedAttention, AWriterOnALentCoreRecordsTheSameSession) {
  const int threads = std::max(2, ThreadPool::hardware_threads());
  auto model = open_test_model(models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf", threads);
  record::RecordRequest req;
  // Longer than a tile (256 positions), so the prefill stores overview tiles.
  for (int i = 0; i < 20; ++i) req.prompt += "The capital of France is Paris, and the capital of Italy is Rome. ";
  req.n_new = 8;
  req.sampling.temperature = 0;
  req.session_path = temp_session("mnemo-rec", "lent.mnemo");
  req.lend_core_to_writer = true;
  const record::RecordResult lent = record::record_run(*model, req);
  const std::string lent_path = req.session_path;
  req.session_path = temp_session("mnemo-rec", "competing.mnemo");
  req.lend_core_to_writer = false;
  const record::RecordResult competing = record::record_run(*model, req);
  EXPECT_GT(lent.stats.core_loans, 0);
  EXPECT_EQ(competing.stats.core_loans, 0);
  EXPECT_EQ(lent.generated_text, competing.generated_text);

  profiler::Db db(lent_path, profiler::Db::Mode::ReadWriteCreate);
  db.exec("ATTACH DATABASE '" + req.session_path + "' AS other");
  for (const char* table : {"_layer", "_mixer_factor", "_head_metric", "_pyramid_tile", "_kv_occupancy", "_token"}) {
    const std::string t = table;
    profiler::Stmt rows = db.prepare("SELECT (SELECT count(*) FROM main." + t + "), (SELECT count(*) FROM other." + t + ")");
    ASSERT_TRUE(rows.step());
    EXPECT_GT(rows.integer(0), 0) << t;
    EXPECT_EQ(rows.integer(0), rows.integer(1)) << t;
    profiler::Stmt differ = db.prepare("SELECT count(*) FROM (SELECT * FROM main." + t + " EXCEPT SELECT * FROM other." + t + ")");
    ASSERT_TRUE(differ.step());
    EXPECT_EQ(differ.integer(0), 0) << t << ": rows differ between the lent-core and the competing recording";
  }
}

// The stored overview of a prefill, from the engine's own 4×4 cells (level 2, stored as they are)
// or pooled on from them (level 3, the default first stored level), against pooling the engine's
// fp32 rows.
class RecordedPyramid : public ::testing::TestWithParam<int> {};

TEST_P(RecordedPyramid, SmolLM2PyramidMatchesPoolingTheEngineRows) {
  const int level = GetParam();
  const int64_t s = int64_t{1} << level;
  // A prompt long enough for stored overview levels (the map exceeds one 256-cell tile).
  auto model = open_test_model(models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf");
  record::RecordRequest req;
  req.session_path = temp_session("mnemo-rec", "smollm2-pyramid-" + std::to_string(level) + ".mnemo");
  req.pyramid_first_level = level;
  for (int i = 0; i < 60; ++i) req.prompt += "Attention maps pool into overviews at every zoom. ";
  req.n_new = 1;
  req.sampling.temperature = 0;
  EngineRows engine;
  {
    // The engine's rows from the same prompt, unrecorded.
    model->set_probe_sink(&engine);
    model->reset();
    model->forward(model->tokenizer().encode(req.prompt, true));
    model->set_probe_sink(nullptr);
    model->reset();
  }
  const record::RecordResult r = record::record_run(*model, req);
  profiler::SessionReader reader(req.session_path);
  const int64_t n = static_cast<int64_t>(engine.step_of.size());
  ASSERT_GT(n, 512);
  double worst = 0;
  for (const int layer : {0, 17, 29})
    for (const int head : {0, 4, 8}) {
      const profiler::AttentionTile t = reader.tile(r.run_id, 0, layer, head, level, 0, 0);
      // From the stored pyramid alone: it is this step's map, its last, partial cell row included.
      ASSERT_EQ(t.recomputed_rows, 0) << "level " << level << " should come from the stored pyramid";
      ASSERT_EQ(t.rows, (n + s - 1) / s);
      for (int64_t rc = 0; rc < t.rows; ++rc)
        for (int64_t c = 0; c < t.cols; ++c) {
          double mx = 0, sum = 0;
          int64_t cells = 0;
          for (int64_t i = rc * s; i < std::min(n, rc * s + s); ++i) {
            const std::vector<float>& p = engine.rows.at({layer, head, i});
            for (int64_t j = c * s; j < std::min(n, c * s + s); ++j, ++cells)
              if (j < static_cast<int64_t>(p.size())) mx = std::max<double>(mx, p[j]), sum += p[j];
          }
          const size_t at = static_cast<size_t>(rc * t.cols + c);
          // Stored tiles are fp16 (2^-11 relative).
          const double rel = 1e-3;
          ASSERT_NEAR(t.max[at], mx, 1e-6 + rel * mx) << layer << "/" << head << " cell " << rc << "," << c;
          ASSERT_NEAR(t.mean[at], sum / cells, 1e-6 + rel * sum / cells) << layer << "/" << head << " cell " << rc << "," << c;
          if (rc * s + s <= n) worst = std::max(worst, std::abs(t.max[at] - mx));
        }
    }
  // The prefill's query tiles rescale their moments across key blocks.
  check_metrics(reader, r.run_id, engine, profiler::MaskSpec{});
  std::printf("level-%d pyramid of a %lld-token prefill: worst |max - pooled engine max| over stored cells = %.2e\n", level,
              static_cast<long long>(n), worst);
}

INSTANTIATE_TEST_SUITE_P(StoredLevels, RecordedPyramid, ::testing::Values(2, 3));

}  // namespace
}  // namespace mnemo::test

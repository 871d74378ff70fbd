// A recorded session against the engine that produced it: every attention row the reader
// recomputes from the stored (fp16) factors is compared with the engine's own fp32 probabilities
// (rt::attention_row on the live probe) for SmolLM2 (causal, GQA, prefill and decode steps) and
// MiniLM (bidirectional encoder). Also checks that recording leaves generation unchanged.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "../runtime/test_util.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/record/record_run.h"
#include "mnemo/runtime/generate.h"

namespace mnemo::test {
namespace {

// The engine's probabilities of every (layer, head, query position), kept as the model runs.
struct EngineRows : rt::ProbeSink {
  bool wants_attention() const override { return true; }
  void on_attention(const rt::AttentionProbe& p) override {
    for (int32_t h = 0; h < p.n_heads; ++h)
      for (int64_t i = 0; i < p.n_q; ++i) rows[{p.layer, h, p.q_pos0 + i}] = rt::attention_row(p, h, i);
  }
  std::map<std::tuple<int, int, int64_t>, std::vector<float>> rows;
};

std::string temp_session(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("mnemo-rec-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string p = (dir / name).string();
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
  return p;
}

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

TEST(RecordedAttention, SmolLM2RowsMatchTheEngine) {
  auto model = open_test_model(models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf");
  record::RecordRequest req;
  req.session_path = temp_session("smollm2.mnemo");
  req.prompt = "The capital of France is Paris, and the capital of Italy is";
  req.n_new = 6;
  req.sampling.temperature = 0;
  const record::RecordResult r = record::record_run(*model, req);

  // The same generation again, unrecorded, with the engine's rows kept.
  EngineRows engine;
  model->set_probe_sink(&engine);
  rt::SamplingParams sp;
  sp.temperature = 0;
  rt::Sampler sampler(sp);
  const auto ids = model->tokenizer().encode(req.prompt, true);
  const auto out = rt::generate(*model, ids, req.n_new, sampler, {});
  model->set_probe_sink(nullptr);
  EXPECT_EQ(model->tokenizer().decode(out), r.generated_text) << "recording changed the generated text";

  profiler::SessionReader reader(req.session_path);
  const Agreement a = compare_all(reader, r.run_id, engine);
  EXPECT_EQ(a.rows, 30 * 9 * static_cast<int64_t>(ids.size() + req.n_new - 1));
  // fp16 factors: scores move by ~1e-3 relative; probabilities by at most a few 1e-3.
  EXPECT_LT(a.max_abs, 5e-3);
  EXPECT_LT(a.max_row_sum_err, 1e-5);
  std::printf("SmolLM2: %lld rows, max |reader - engine| = %.2e, max |row sum - 1| = %.2e\n",
              static_cast<long long>(a.rows), a.max_abs, a.max_row_sum_err);
}

TEST(RecordedAttention, MiniLMEncoderRowsMatchTheEngine) {
  auto model = open_test_model(models_dir() + "/all-MiniLM-L6-v2");
  record::RecordRequest req;
  req.session_path = temp_session("minilm.mnemo");
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
  EXPECT_LT(a.max_abs, 5e-3);
  EXPECT_LT(a.max_row_sum_err, 1e-5);
  std::printf("MiniLM: %lld rows, max |reader - engine| = %.2e\n", static_cast<long long>(a.rows), a.max_abs);
}

}  // namespace
}  // namespace mnemo::test

// A recurrent memory transformer recorded (the tiny rmt models of memory.write_models): the memory
// each segment reads, as the session keeps it (_memory_snapshot, fp16), against the engine's own
// memory probe; and attention captures, which the session cannot yet hold for a segmented model,
// refused by name rather than recorded wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "../runtime/test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
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
    EXPECT_EQ(m.layer, -1);
    const auto& want = engine.memory.at(static_cast<int32_t>(m.segment));
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
}

TEST_P(RecordedMemory, AttentionCapturesAreRefusedByName) {
  auto model = open_test_model(kMemoryDir + "/" + GetParam());
  for (const char* captures : {"attention", "metrics", "pyramids", "all"}) {
    try {
      record::record_run(*model, request(GetParam() + "-refused.mnemo", captures));
      ADD_FAILURE() << captures << " was recorded";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("cut into segments (rmt) is not built yet"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(GetParam()), std::string::npos) << "names the model: " << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(rmt, RecordedMemory, ::testing::Values("rmt_gpt2", "rmt_llama"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mnemo::test

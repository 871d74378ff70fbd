// record::ProbeRecorder driven with synthetic probes into a real profiler::Recorder and session,
// read back through profiler::SessionReader:
// - keys have identity: each position's key is stored once, at its position. An eviction (fewer
//   slots, out of position order) is not a reset; a reset (the step counter back at 0) stores
//   every key again; new keys that are not one run of positions are refused, not stored wrongly.
// - every op is stored under its kind's name, kinds registered after the run began included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "../session/session_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/profiler/session/sqlite_db.h"
#include "mnemo/record/capture.h"
#include "mnemo/runtime/kinds.h"
#include "mnemo/runtime/probes.h"

namespace mnemo {
namespace {

constexpr int kHeads = 2, kKvHeads = 2, kDim = 4, kSlots = 8192;
constexpr float kScale = 0.5f;

// Keys and queries, exact in fp16 (so both factor dtypes store them exactly); a key depends on its
// generation, so keys stored again after a reset are told from the first ones.
float key_value(int64_t position, int g, int t, int generation) {
  return static_cast<float>(generation) * 128.f + static_cast<float>(position % 97) + static_cast<float>(g) * 0.5f +
         static_cast<float>(t) * 0.125f;
}
float query_value(int64_t position, int h, int t) {
  return 0.0078125f * static_cast<float>((position + 2 * h + t) % 5) - 0.015625f;
}

// One softmax layer's KV memory as the engine keeps it: which position each slot holds, and the
// keys [kv head][slot][d].
struct Memory {
  int generation = 0;
  std::vector<int64_t> positions;  // per slot in use
  std::vector<float> keys = std::vector<float>(static_cast<size_t>(kKvHeads) * kSlots * kDim);

  void hold(size_t slot, int64_t position) {
    if (positions.size() <= slot) positions.resize(slot + 1, -1);
    positions[slot] = position;
    for (int g = 0; g < kKvHeads; ++g)
      for (int t = 0; t < kDim; ++t) keys[(static_cast<size_t>(g) * kSlots + slot) * kDim + t] = key_value(position, g, t, generation);
  }
  // Slots 0 .. n-1 holding positions 0 .. n-1 (a prefill into an empty memory).
  void fill(int64_t n) {
    positions.clear();
    for (int64_t p = 0; p < n; ++p) hold(static_cast<size_t>(p), p);
  }
};

// A softmax probe of `layer` at `step`: queries q_pos0 .. q_pos0+n_q-1 over the memory's slots, the
// lse of each row computed in double over the keys it sees (causal).
struct Probe {
  std::vector<float> q, lse;
  std::vector<uint8_t> resident;
  std::vector<rt::FactorSpan> factors;
  rt::MixerProbe p;

  Probe(const Memory& m, int64_t step, int32_t layer, int64_t q_pos0, int64_t n_q) {
    const auto n_k = static_cast<int64_t>(m.positions.size());
    for (int64_t i = 0; i < n_q; ++i)
      for (int h = 0; h < kHeads; ++h)
        for (int t = 0; t < kDim; ++t) q.push_back(query_value(q_pos0 + i, h, t));  // [n_q][heads][d]
    lse.resize(static_cast<size_t>(kHeads * n_q));
    for (int h = 0; h < kHeads; ++h)
      for (int64_t i = 0; i < n_q; ++i) {
        double sum = 0;
        for (int64_t j = 0; j < n_k; ++j)
          if (m.positions[static_cast<size_t>(j)] <= q_pos0 + i) sum += std::exp(score(m, h, i, j));
        lse[static_cast<size_t>(h * n_q + i)] = static_cast<float>(std::log(sum));
      }
    resident.assign(static_cast<size_t>(n_k), 1);
    factors = {{"q", q.data(), kHeads, n_q, kDim, kDim, kHeads * kDim},
               {"k", m.keys.data(), kKvHeads, n_k, kDim, int64_t{kSlots} * kDim, kDim},
               {"lse", lse.data(), kHeads, n_q, 1, n_q, 1}};
    p.step = step, p.layer = layer, p.n_heads = kHeads, p.n_kv_heads = kKvHeads, p.n_q = n_q, p.n_k = n_k;
    p.q_pos0 = q_pos0;
    p.key_positions = m.positions;
    p.key_resident = resident;
    p.scale = kScale;
    p.factors = factors;
  }
  // Query row i of head h against slot j, as the engine scores it.
  double score(const Memory& m, int h, int64_t i, int64_t j) const {
    const int g = h / (kHeads / kKvHeads);
    double s = 0;
    for (int t = 0; t < kDim; ++t)
      s += static_cast<double>(q[static_cast<size_t>((i * kHeads + h) * kDim + t)]) *
           m.keys[(static_cast<size_t>(g) * kSlots + static_cast<size_t>(j)) * kDim + t];
    return s * kScale;
  }
};

profiler::RunInfo tiny_run() {
  profiler::RunInfo r;
  r.model_path = "synthetic", r.model_format = "gguf", r.architecture = "llama", r.plugin_id = "test", r.plugin_version = "0";
  r.n_layers = 2, r.n_heads = kHeads, r.n_kv_heads = kKvHeads, r.head_dim = kDim, r.wall_start_utc = "x";
  r.op_kinds = rt::op_kind_names();
  return r;
}

rt::StepProbe step_probe(int64_t step, int64_t pos0, int64_t n_tokens) {
  rt::StepProbe s;
  s.step = step, s.kind = step == 0 ? rt::StepKind::Prefill : rt::StepKind::Decode;
  s.pos0 = pos0, s.n_tokens = n_tokens, s.start_ns = 1000 * (step + 1), s.end_ns = 1000 * (step + 1) + 500;
  return s;
}

// A stored `k` row: where it starts, and its keys by [kv head][row][d] in fp32.
struct KeyRow {
  int64_t pos0 = 0, n = 0;
  std::vector<float> keys;
};

std::map<int64_t, KeyRow> key_rows(const profiler::SessionReader& reader, int32_t layer) {
  profiler::Stmt s = reader.db().prepare(
      "SELECT step, pos0, n, n_heads, width, dtype, data FROM _mixer_factor WHERE layer = ? AND factor = 'k'");
  s.bind(1, layer);
  std::map<int64_t, KeyRow> rows;
  while (s.step()) {
    KeyRow r;
    r.pos0 = s.integer(1), r.n = s.integer(2);
    EXPECT_EQ(s.integer(3), kKvHeads);
    EXPECT_EQ(s.integer(4), kDim);
    const auto data = s.blob(6);
    const size_t values = static_cast<size_t>(r.n * kKvHeads * kDim);
    r.keys.resize(values);
    if (s.text(5) == "f32") {
      EXPECT_EQ(data.size(), values * 4);
      if (data.size() == values * 4) std::memcpy(r.keys.data(), data.data(), data.size());
    } else {
      EXPECT_EQ(data.size(), values * 2);
      std::vector<uint16_t> half(values);
      if (data.size() == values * 2) std::memcpy(half.data(), data.data(), data.size());
      for (size_t v = 0; v < values; ++v) r.keys[v] = fp16_to_f32(half[v]);
    }
    rows[s.integer(0)] = std::move(r);
  }
  return rows;
}

// The row holds positions first .. first+count-1 of `generation`.
void expect_keys(const KeyRow& row, int64_t first, int64_t count, int generation, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(row.pos0, first);
  ASSERT_EQ(row.n, count);
  for (int g = 0; g < kKvHeads; ++g)
    for (int64_t r = 0; r < count; ++r)
      for (int t = 0; t < kDim; ++t)
        ASSERT_EQ(row.keys[static_cast<size_t>((g * count + r) * kDim + t)], key_value(first + r, g, t, generation))
            << "KV head " << g << ", position " << first + r << ", component " << t;
}

struct Case {
  profiler::FactorDtype dtype;
  bool pool;  // the copies on a thread pool (a prefill big enough to be worth a run)
};

class RecordedKeys : public ::testing::TestWithParam<Case> {};

// Layer 0: a prefill of 4 keys; then a step after an eviction, its slots holding positions 0, 4
// and 2 (position 4 in the slot position 1 left; 1 and 3 evicted): 3 slots and one new key. The
// session must hold keys 0..3 as the prefill stored them and key 4 at position 4. (The heuristic
// this replaces took the 3 slots for a reset and stored them as positions 0..2.) With the pool,
// the same at 4096 tokens a step, the second step's 4096 new keys in slots out of position order,
// so the copies run on the pool.
//
// Layer 1: a reset. A run's steps are unique in the session, so the layer's steps before the
// reset are 1 and 2 (the sink attached after the prefill), and its step 0 after the reset is new
// to the file: it must store all 6 keys the emptied memory took again, not only the 2 positions
// beyond the 4 sent before (the heuristic saw 6 slots >= 4 sent and no reset).
TEST_P(RecordedKeys, AnEvictionIsNotAResetAndAResetSendsEveryKeyAgain) {
  const Case c = GetParam();
  const std::string path = profiler::test::temp_path(std::string("probe-keys-") + profiler::dtype_name(c.dtype) +
                                                     (c.pool ? "-pool" : "") + ".mnemo");
  // A prefill past the size the copies go to the pool at (32k query values).
  const int64_t n_prefill = c.pool ? 4096 : 4, n_after_eviction = c.pool ? 4096 : 1;
  ThreadPool pool(2);
  int64_t run_id = 0;
  {
    profiler::RecorderOptions o;
    o.factor_dtype = c.dtype;
    profiler::Recorder recorder(path, tiny_run(), o);
    run_id = recorder.run_id();
    record::ProbeRecorder sink(recorder, record::Captures{}, c.pool ? &pool : nullptr);

    Memory layer0, layer1;
    layer0.fill(n_prefill);
    sink.on_mixer(Probe(layer0, 0, 0, 0, n_prefill).p);
    sink.on_step_end(step_probe(0, 0, n_prefill));
    recorder.end_step(0);

    // Evict positions 1 and 3; the step's first new position goes to slot 1, its others (when it
    // has more) after the prefill's remaining keys, last position first.
    layer0.positions.clear();
    layer0.hold(0, 0);
    layer0.hold(1, n_prefill);
    for (int64_t p = 2; p < n_prefill; ++p)
      if (p != 3) layer0.hold(layer0.positions.size(), p);
    for (int64_t p = n_prefill + n_after_eviction - 1; p > n_prefill; --p) layer0.hold(layer0.positions.size(), p);
    ASSERT_EQ(layer0.positions.size(), static_cast<size_t>(n_prefill - 2 + n_after_eviction));
    if (!c.pool) {
      ASSERT_EQ(layer0.positions, (std::vector<int64_t>{0, 4, 2}));
    }
    sink.on_mixer(Probe(layer0, 1, 0, n_prefill, n_after_eviction).p);
    layer1.fill(3);
    sink.on_mixer(Probe(layer1, 1, 1, 0, 3).p);
    sink.on_step_end(step_probe(1, n_prefill, n_after_eviction));
    recorder.end_step(1);

    layer1.hold(3, 3);
    sink.on_mixer(Probe(layer1, 2, 1, 3, 1).p);
    sink.on_step_end(step_probe(2, n_prefill + n_after_eviction, 1));
    recorder.end_step(2);

    // Model::reset(): the memory empties and the next step is 0 again, with other keys.
    layer1.generation = 1;
    layer1.fill(6);
    sink.on_mixer(Probe(layer1, 0, 1, 0, 6).p);
    sink.flush();  // the step itself is in the file already
    recorder.finish();
    ASSERT_FALSE(recorder.failed()) << recorder.failure();
  }

  profiler::SessionReader reader(path);
  const auto keys0 = key_rows(reader, 0);
  ASSERT_EQ(keys0.size(), 2u);
  expect_keys(keys0.at(0), 0, n_prefill, 0, "layer 0, the prefill's keys");
  expect_keys(keys0.at(1), n_prefill, n_after_eviction, 0, "layer 0, the keys new after the eviction");
  const auto keys1 = key_rows(reader, 1);
  ASSERT_EQ(keys1.size(), 3u);
  expect_keys(keys1.at(1), 0, 3, 0, "layer 1, before the reset");
  expect_keys(keys1.at(2), 3, 1, 0, "layer 1, before the reset");
  expect_keys(keys1.at(0), 0, 6, 1, "layer 1, after the reset");

  // The reader's probabilities of a prefill row, recomputed from q, the keys of positions 0..3 and
  // the lse: equal to the engine's (the keys at their positions, unchanged by the later step).
  Memory original;
  original.fill(4);
  const Probe prefill(original, 0, 0, 0, 4);
  for (int h = 0; h < kHeads; ++h) {
    const std::vector<float> row = reader.row(run_id, 0, h, 3);
    ASSERT_GE(row.size(), 4u);
    for (int64_t j = 0; j < 4; ++j)
      EXPECT_NEAR(row[static_cast<size_t>(j)], std::exp(prefill.score(original, h, 3, j) - prefill.lse[static_cast<size_t>(h * 4 + 3)]),
                  1e-5)
          << "head " << h << ", key " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, RecordedKeys,
                         ::testing::Values(Case{profiler::FactorDtype::F32, false}, Case{profiler::FactorDtype::F16, false},
                                           Case{profiler::FactorDtype::F32, true}, Case{profiler::FactorDtype::F16, true}),
                         [](const auto& info) {
                           return std::string(profiler::dtype_name(info.param.dtype)) + (info.param.pool ? "_pool" : "");
                         });

// New keys that are not one run of positions (6 and 8, with 7 never held) cannot be stored as a
// capture's keys: the probe is refused, naming the layer and step, rather than recorded wrongly.
TEST(RecordedKeys, NewKeysWithAGapAreRefused) {
  const std::string path = profiler::test::temp_path("probe-keys-gap.mnemo");
  profiler::Recorder recorder(path, tiny_run());
  record::ProbeRecorder sink(recorder, record::Captures{});
  Memory m;
  m.fill(6);
  sink.on_mixer(Probe(m, 0, 1, 0, 6).p);
  m.hold(1, 6), m.hold(3, 8);
  try {
    sink.on_mixer(Probe(m, 1, 1, 6, 1).p);
    FAIL() << "keys at positions 6 and 8 were taken as one run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1, step 1"), std::string::npos) << e.what();
  }
  sink.flush();
  recorder.finish();
}

// Ops of every kind are stored, under their kinds' names: the ones the run named when it began
// (copy among them, beyond schema v1's eight) and one registered after it began.
TEST(RecordedOps, EveryKindIsStoredByName) {
  const std::string path = profiler::test::temp_path("probe-ops.mnemo");
  int64_t run_id = 0;
  {
    profiler::Recorder recorder(path, tiny_run());
    run_id = recorder.run_id();
    record::ProbeRecorder sink(recorder, record::Captures{});
    const int32_t late = rt::op_kinds().intern("probe_recorder_test_late_op");
    const std::vector<int32_t> kinds = {*rt::op_kinds().find("matmul"), *rt::op_kinds().find("copy"), late};
    int64_t t = 100;
    for (int round = 0; round < 2; ++round)
      for (const int32_t kind : kinds) {
        rt::OpTiming op;
        op.step = 0, op.kind = kind, op.kind_name = rt::op_kind_name(kind), op.thread = 7;
        op.start_ns = t, op.end_ns = t + 50;
        t += 100;
        sink.on_op(op);
      }
    sink.on_step_end(step_probe(0, 0, 1));
    recorder.end_step(0);
    recorder.finish();
    ASSERT_FALSE(recorder.failed()) << recorder.failure();
  }
  profiler::SessionReader reader(path);
  std::map<std::string, int> by_kind;
  for (const profiler::OpRow& op : reader.ops(run_id, 0, INT64_MAX)) ++by_kind[op.kind];
  const std::map<std::string, int> want = {{"matmul", 2}, {"copy", 2}, {"probe_recorder_test_late_op", 2}};
  EXPECT_EQ(by_kind, want);
}

}  // namespace
}  // namespace mnemo

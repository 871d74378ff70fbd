// Recorder → file → reader, against ground truth computed independently in double precision:
// exact level-0 tiles, pooled levels from the stored pyramid and from recomputation (also for
// decode steps after the pyramid's snapshot), slices, top-k, metrics, KV, counters, the op
// timeline's level of detail, appending runs, the byte budget and reading during a recording.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <future>
#include <filesystem>
#include <optional>
#include <thread>

#include "mnemo/core/thread_pool.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/profiler/session/session_writer.h"
#include "session_test_util.h"

namespace mnemo::profiler {
namespace {

using test::SyntheticAttention;

RunInfo synthetic_run(const SyntheticAttention& a, const std::string& label) {
  RunInfo r;
  r.label = label;
  r.model_path = "synthetic";
  r.model_format = "gguf";
  r.architecture = "llama";
  r.plugin_id = "test";
  r.plugin_version = "0";
  r.n_layers = a.layers, r.d_model = a.heads * a.d, r.n_heads = a.heads, r.n_kv_heads = a.kv_heads, r.head_dim = a.d;
  r.vocab_size = 100, r.context_length = 4096;
  r.prompt = "synthetic prompt";
  r.captures = "attention,metrics,pyramids,kv,ops";
  r.wall_start_utc = "2026-01-01T00:00:00Z";
  r.start_ns = 1000000;
  r.op_kinds = {"embed", "norm", "matmul", "rope", "attention"};
  return r;
}

// Records a prefill of `prefill` positions and `decode` single-token steps; ops every 10 µs.
int64_t record(const std::string& path, const SyntheticAttention& a, int64_t prefill, int64_t decode,
               RecorderOptions options = {}, const std::string& label = "run") {
  Recorder rec(path, synthetic_run(a, label), options);
  int64_t op_id = 0, t = 1000000;
  for (int64_t step = 0; step <= decode; ++step) {
    const int64_t pos0 = step == 0 ? 0 : prefill + step - 1, n = step == 0 ? prefill : 1;
    for (int64_t i = 0; i < n; ++i) rec.submit(TokenRecord{pos0 + i, static_cast<int32_t>(pos0 + i), "t", step});
    const int64_t start = t;
    for (int layer = 0; layer < a.layers; ++layer) {
      rec.submit(a.capture(step, layer, pos0, n));
      rec.submit(KvRecord{step, layer, pos0 + n, 4096, (pos0 + n) * 256, 4096 * 256, {{0, pos0 + n}}});
      for (int kind = 1; kind <= 4; ++kind, t += 10000)
        rec.submit(OpRecord{op_id++, step, kind, layer, -1, 7, t, t + 6000 + kind * 500});
    }
    rec.submit(StepRecord{step, step == 0 ? "prefill" : "decode", pos0, n, start, t});
    rec.submit(CounterRecord{"tokens_per_s", t, 1000.0 + static_cast<double>(step)});
    rec.end_step(step);
  }
  const int64_t id = rec.run_id();
  rec.finish();
  return id;
}

void expect_tile_matches(const AttentionTile& tile, const SyntheticAttention& a, int layer, int head, int64_t map_rows,
                         int64_t map_cols, double tol_rel) {
  const int64_t s = int64_t{1} << tile.level;
  for (int64_t r = 0; r < tile.rows; ++r) {
    std::vector<double> mx(static_cast<size_t>(tile.cols), 0.0), sum(static_cast<size_t>(tile.cols), 0.0);
    for (int64_t i = (tile.row0 + r) * s; i < std::min(map_rows, (tile.row0 + r + 1) * s); ++i) {
      const auto p = a.row(layer, head, i);
      for (int64_t c = 0; c < tile.cols; ++c)
        for (int64_t j = (tile.col0 + c) * s; j < std::min(map_cols, (tile.col0 + c + 1) * s); ++j) {
          const double v = j < static_cast<int64_t>(p.size()) ? p[j] : 0.0;
          mx[c] = std::max(mx[c], v);
          sum[c] += v;
        }
    }
    for (int64_t c = 0; c < tile.cols; ++c) {
      const double mean = sum[c] / static_cast<double>(cells_inside(tile.level, tile.row0 + r, tile.col0 + c, map_rows, map_cols));
      const size_t at = static_cast<size_t>(r * tile.cols + c);
      ASSERT_NEAR(tile.max[at], mx[c], 1e-6 + tol_rel * mx[c]) << "level " << tile.level << " cell " << r << "," << c;
      ASSERT_NEAR(tile.mean[at], mean, 1e-6 + tol_rel * mean) << "level " << tile.level << " cell " << r << "," << c;
    }
  }
}

// The snapshot's last cell row is partial (301 rows in cells of 2 at level 1); the decode rows
// fall into it and below it. They are added to the stored cells, and only they are recomputed.
TEST(SessionRoundTrip, DecodeRowsAddToASnapshotsPartialCellRow) {
  const SyntheticAttention a(304, 5);
  const std::string path = test::temp_path("partial-cell.mnemo");
  RecorderOptions opt;
  opt.pyramid_first_level = 1;
  const int64_t run = record(path, a, 301, 3, opt);
  SessionReader reader(path);
  for (int layer = 0; layer < a.layers; ++layer)
    for (int head = 0; head < a.heads; ++head) {
      const AttentionTile stored = reader.tile(run, 0, layer, head, 1, 0, 0);
      EXPECT_EQ(stored.recomputed_rows, 0);  // the step that stored it, partial row included
      expect_tile_matches(stored, a, layer, head, 301, 301, 2e-3);
      for (int64_t step = 1; step <= 3; ++step) {
        const AttentionTile t = reader.tile(run, step, layer, head, 1, 0, 0);
        EXPECT_EQ(t.recomputed_rows, step) << "only the decode rows";
        expect_tile_matches(t, a, layer, head, 301 + step, 301 + step, 2e-3);
      }
    }
}

TEST(SessionRoundTrip, TilesSlicesMetricsAndTimelineMatchGroundTruth) {
  const SyntheticAttention a(306, 42);
  const std::string path = test::temp_path("roundtrip.mnemo");
  RecorderOptions opt;
  opt.pyramid_first_level = 1;  // 300 positions: level 1 (150 cells) is stored at step 0
  const int64_t run = record(path, a, 300, 6, opt);

  SessionReader reader(path);
  EXPECT_EQ(reader.schema_version(), 2);
  const RunSummary s = reader.run(run);
  EXPECT_EQ(s.status, "complete");
  EXPECT_EQ(s.n_steps, 7);
  EXPECT_EQ(s.n_tokens, 306);
  EXPECT_EQ(s.counts.attention_heads, 7 * a.layers * a.heads);
  EXPECT_EQ(s.counts.kv_snapshots, 7 * a.layers);
  EXPECT_EQ(s.counts.ops, 7 * a.layers * 4);

  const MapShape shape = reader.map_shape(run, 6, 1, 3);
  EXPECT_EQ(shape.rows, 306);
  EXPECT_EQ(shape.cols, 306);
  EXPECT_EQ(reader.map_shape(run, 0, 1, 3).rows, 300);

  for (int layer = 0; layer < a.layers; ++layer)
    for (int head : {0, 3}) {
      // Level 0: exact (float32 recomputation of the fp16 factors).
      expect_tile_matches(reader.tile(run, 6, layer, head, 0, 1, 0), a, layer, head, 306, 306, 2e-5);
      expect_tile_matches(reader.tile(run, 0, layer, head, 0, 0, 1), a, layer, head, 300, 300, 2e-5);
      // Level 1 at step 0 comes from the stored pyramid (fp16).
      const AttentionTile stored = reader.tile(run, 0, layer, head, 1, 0, 0);
      EXPECT_EQ(stored.recomputed_rows, 0);
      expect_tile_matches(stored, a, layer, head, 300, 300, 2e-3);
      // Later steps: the pyramid's rows plus the decode rows recomputed.
      const AttentionTile composed = reader.tile(run, 6, layer, head, 1, 0, 0);
      EXPECT_GT(composed.recomputed_rows, 0);
      EXPECT_LE(composed.recomputed_rows, 8);
      expect_tile_matches(composed, a, layer, head, 306, 306, 2e-3);
      // Level 2 is not stored: pooled on request.
      expect_tile_matches(reader.tile(run, 3, layer, head, 2, 0, 0), a, layer, head, 303, 303, 2e-5);
    }
  EXPECT_THROW(reader.tile(run, 6, 0, 0, 0, 2, 0), Error);   // outside the map
  EXPECT_THROW(reader.tile(run, 9, 0, 0, 0, 0, 0), Error);   // no such step
  EXPECT_THROW(reader.tile(run, 0, 0, 9, 0, 0, 0), Error);   // no such head

  // Slices and top-k.
  const auto row = reader.row(run, 1, 2, 303);
  const auto truth = a.row(1, 2, 303);
  ASSERT_EQ(row.size(), 304u);
  for (size_t j = 0; j < row.size(); ++j) ASSERT_NEAR(row[j], truth[j], 1e-6 + 2e-5 * truth[j]);
  const auto col = reader.column(run, 6, 1, 2, 0);
  ASSERT_EQ(col.size(), 306u);
  for (int64_t i = 0; i < 306; ++i) ASSERT_NEAR(col[i], a.row(1, 2, i)[0], 1e-6 + 2e-5 * a.row(1, 2, i)[0]);
  const auto top = reader.top_k(run, 1, 2, 303, 5);
  ASSERT_EQ(top.size(), 5u);
  for (size_t i = 1; i < top.size(); ++i) EXPECT_GE(top[i - 1].second, top[i].second);
  EXPECT_EQ(top[0].first, std::max_element(truth.begin(), truth.end()) - truth.begin());

  // Metrics of the prefill step against their definitions.
  const auto metrics = reader.head_metrics(run, 0);
  ASSERT_EQ(metrics.size(), static_cast<size_t>(a.layers * a.heads));
  for (const auto& m : metrics) {
    double entropy = 0, distance = 0, sink = 0;
    for (int64_t i = 0; i < 300; ++i) {
      const auto p = a.row(m.layer, m.head, i);
      for (size_t j = 0; j < p.size(); ++j) {
        if (p[j] > 0) entropy -= p[j] * std::log(p[j]);
        distance += p[j] * static_cast<double>(i - static_cast<int64_t>(j));
      }
      sink += p[0];
    }
    EXPECT_NEAR(m.m.entropy, entropy / 300, 1e-3);
    EXPECT_NEAR(m.m.mean_distance, distance / 300, 1e-2);
    EXPECT_NEAR(m.m.sink_mass, sink / 300, 1e-4);
    EXPECT_GT(m.m.sparsity, 0.0);
    EXPECT_LT(m.m.sparsity, 1.0);
  }
  EXPECT_EQ(reader.head_metrics(run).size(), static_cast<size_t>(7 * a.layers * a.heads));

  // KV, counters, steps, tokens.
  const auto kv = reader.kv(run);
  ASSERT_EQ(kv.size(), static_cast<size_t>(7 * a.layers));
  EXPECT_EQ(kv.back().n_resident, 306);
  ASSERT_EQ(kv.back().ranges.size(), 1u);
  EXPECT_EQ(kv.back().ranges[0], (std::pair<int64_t, int64_t>{0, 306}));
  int64_t throughput = 0, bytes_written = 0;
  for (const auto& c : reader.counters(run)) throughput += c.name == "tokens_per_s", bytes_written += c.name == "bytes_written";
  EXPECT_EQ(throughput, 7);
  EXPECT_GE(bytes_written, 1);  // one per commit
  const auto steps = reader.steps(run);
  ASSERT_EQ(steps.size(), 7u);
  EXPECT_EQ(steps[0].kind, "prefill");
  EXPECT_EQ(steps[6].pos0, 305);
  EXPECT_EQ(reader.tokens(run).size(), 306u);

  // Timeline: every bucket's count and busy time against the ops themselves.
  const auto ops = reader.ops(run, 0, INT64_MAX);
  ASSERT_EQ(ops.size(), static_cast<size_t>(7 * a.layers * 4));
  const int64_t t0 = ops.front().start_ns, t1 = ops.back().end_ns;
  for (int64_t buckets : {1, 7, 50, 4000}) {
    const auto tl = reader.timeline(run, 7, t0, t1, buckets);
    ASSERT_EQ(tl.size(), static_cast<size_t>(buckets));
    int64_t busy = 0;
    for (const auto& b : tl) busy += b.busy_ns;
    int64_t want = 0;
    for (const auto& o : ops) want += o.end_ns - o.start_ns;
    // LOD buckets are at most as wide as the requested ones; clipping at bucket edges is proportional.
    EXPECT_NEAR(static_cast<double>(busy), static_cast<double>(want), 0.02 * static_cast<double>(want)) << buckets;
    int64_t max_count = 0;
    for (const auto& b : tl) max_count = std::max(max_count, b.count);
    EXPECT_GE(max_count, 1);
  }
}

// The op level of detail is built at finish from the ops the writer kept in memory; reading the
// ops back from the file (the path past SessionWriter::kMaxOpsKept) must give the same rows.
// Ops come from two threads, out of time order, some starting together.
TEST(SessionRoundTrip, OpLevelOfDetailFromMemoryEqualsReadingBack) {
  const SyntheticAttention a(8, 3);
  const std::string path = test::temp_path("op_lod.mnemo");
  int64_t run = 0;
  {
    Recorder rec(path, synthetic_run(a, "ops"), RecorderOptions{});
    run = rec.run_id();
    int64_t id = 0;
    for (int64_t i = 0; i < 6000; ++i) {
      const int64_t t = 1000000 + (i % 3 == 0 ? i * 7000 : (6000 - i) * 7000);  // a third in order, the rest reversed
      rec.submit(OpRecord{id++, 0, 1, 0, -1, 7, t, t + 3000 + (i % 5) * 1000});
      rec.submit(OpRecord{id++, 0, 2, 0, -1, 9, t, t + 500});  // same start on another thread
      if (i % 4 == 0) rec.submit(OpRecord{id++, 0, 3, 0, -1, 9, t, t + 500});  // a tie in start on one thread
    }
    rec.submit(StepRecord{0, "prefill", 0, 1, 1000000, 1000000 + 6000 * 7000});
    rec.end_step(0);
    rec.finish();
  }
  auto lod_rows = [&] {
    Db db(path, Db::Mode::ReadOnly);
    std::vector<std::array<int64_t, 6>> rows;
    Stmt s = db.prepare("SELECT thread, level, bucket, count, busy_ns, longest_op FROM _op_lod WHERE run_id = ? "
                        "ORDER BY thread, level, bucket");
    s.bind(1, run);
    while (s.step()) rows.push_back({s.integer(0), s.integer(1), s.integer(2), s.integer(3), s.integer(4), s.integer(5)});
    return rows;
  };
  const auto from_memory = lod_rows();
  ASSERT_GT(from_memory.size(), 100u);
  {
    Db db(path, Db::Mode::ReadWriteCreate);
    build_op_lod(db, run);
  }
  EXPECT_EQ(lod_rows(), from_memory);
}

// A step bigger than RecorderOptions::commit_bytes commits along the way; the file reads the same.
TEST(SessionRoundTrip, LargeStepsCommitAlongTheWay) {
  const SyntheticAttention a(306, 42);
  const std::string path = test::temp_path("small_commits.mnemo");
  RecorderOptions opt;
  opt.pyramid_first_level = 1;
  opt.commit_bytes = 16 << 10;  // several commits inside the prefill
  const int64_t run = record(path, a, 300, 6, opt);
  SessionReader reader(path);
  const RunSummary s = reader.run(run);
  EXPECT_EQ(s.status, "complete");
  EXPECT_EQ(s.n_steps, 7);
  EXPECT_EQ(s.counts.attention_heads, 7 * a.layers * a.heads);
  EXPECT_EQ(s.counts.ops, 7 * a.layers * 4);
  for (int layer = 0; layer < a.layers; ++layer) {
    expect_tile_matches(reader.tile(run, 0, layer, 3, 1, 0, 0), a, layer, 3, 300, 300, 2e-3);
    expect_tile_matches(reader.tile(run, 6, layer, 3, 0, 1, 0), a, layer, 3, 306, 306, 2e-5);
  }
}

// A queue smaller than one capture: the engine side waits whenever the writer is behind (how often
// depends on timing), and nothing is lost or reordered.
TEST(SessionRoundTrip, BackPressureLosesNothing) {
  const SyntheticAttention a(120, 5);
  const std::string path = test::temp_path("backpressure.mnemo");
  RecorderOptions opt;
  opt.max_queue_bytes = 1 << 10;  // smaller than one capture
  Recorder rec(path, synthetic_run(a, "queue"), opt);
  for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, 120));
  rec.submit(StepRecord{0, "prefill", 0, 120, 1, 2});
  rec.end_step(0);
  const int64_t run = rec.run_id();
  rec.finish();
  SessionReader reader(path);
  EXPECT_EQ(reader.run(run).counts.attention_heads, a.layers * a.heads);
  expect_tile_matches(reader.tile(run, 0, a.layers - 1, 1, 0, 0, 0), a, a.layers - 1, 1, 120, 120, 2e-5);
}

// A writer on a lent core starts on a batch (a step's end, or 8 MiB queued). A capture bigger than
// the queue's room behind a few small records must still wake it: the engine waiting for room and
// the writer waiting for a batch would otherwise wait for each other (an 8k-token prefill did).
TEST(SessionRoundTrip, AProducerWaitingForRoomWakesAWriterOnALentCore) {
  const SyntheticAttention a(120, 5);
  const std::string path = test::temp_path("lent_backpressure.mnemo");
  ThreadPool pool(2);
  RecorderOptions opt;
  opt.max_queue_bytes = 1 << 10;  // smaller than one capture
  opt.borrow_core_from = &pool;
  auto done = std::async(std::launch::async, [&] {
    Recorder rec(path, synthetic_run(a, "lent"), opt);
    for (int64_t i = 0; i < 120; ++i) rec.submit(TokenRecord{i, static_cast<int32_t>(i), "t", 0});
    for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, 120));
    rec.submit(StepRecord{0, "prefill", 0, 120, 1, 2});
    rec.end_step(0);
    const int64_t run = rec.run_id();
    rec.finish();
    EXPECT_GT(rec.stats().backpressure_waits, 0);
    return run;
  });
  if (done.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "the recording hung: the engine and the writer wait for each other\n");
    std::_Exit(1);  // a detached hang cannot be joined; fail the whole test binary
  }
  const int64_t run = done.get();
  SessionReader reader(path);
  EXPECT_EQ(reader.run(run).counts.attention_heads, a.layers * a.heads);
  expect_tile_matches(reader.tile(run, 0, a.layers - 1, 1, 0, 0, 0), a, a.layers - 1, 1, 120, 120, 2e-5);
}

TEST(SessionRoundTrip, MemorySnapshotsRoundTrip) {
  const SyntheticAttention a(8, 2);
  const std::string path = test::temp_path("memory.mnemo");
  Recorder rec(path, synthetic_run(a, "memory"), {});
  for (int64_t segment = 0; segment < 3; ++segment)
    for (int layer = 0; layer < 2; ++layer) {
      MemorySnapshotRecord m{segment, layer, segment, layer == 0 ? "memory_tokens" : "recurrent_state", 4, 6, {}, {}};
      for (int i = 0; i < 24; ++i) m.data.push_back(mnemo::f32_to_fp16(static_cast<float>(segment * 100 + layer * 10 + i)));
      for (int r = 0; r < 4; ++r) m.norms.push_back(static_cast<float>(r));
      rec.submit(m);
    }
  rec.submit(StepRecord{0, "prefill", 0, 8, 1, 2});
  rec.end_step(0);
  rec.finish();
  SessionReader reader(path);
  EXPECT_EQ(reader.run(1).counts.memory_snapshots, 6);
  const auto layer1 = reader.memory_snapshots(1, 1);
  ASSERT_EQ(layer1.size(), 3u);
  EXPECT_EQ(layer1[2].kind, "recurrent_state");
  EXPECT_EQ(layer1[2].rows, 4);
  EXPECT_EQ(mnemo::fp16_to_f32(layer1[2].data[5]), 215.f);
  EXPECT_EQ(layer1[2].norms[3], 3.f);
  EXPECT_EQ(reader.memory_snapshots(1).size(), 6u);
}

TEST(SessionRoundTrip, RunsAppendAndEncoderMasksRecord) {
  const SyntheticAttention a(40, 7);
  const std::string path = test::temp_path("append.mnemo");
  record(path, a, 30, 2, {}, "first");
  record(path, a, 20, 0, {}, "second");
  SessionReader reader(path);
  const auto runs = reader.runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].info.label, "first");
  EXPECT_EQ(runs[1].info.label, "second");
  EXPECT_EQ(runs[1].n_steps, 1);
  expect_tile_matches(reader.tile(runs[1].id, 0, 0, 1, 0, 0, 0), a, 0, 1, 20, 20, 2e-5);
}

TEST(SessionRoundTrip, ByteBudgetDegradesInsteadOfFailing) {
  const SyntheticAttention a(400, 9);
  const std::string path = test::temp_path("budget.mnemo");
  RecorderOptions opt;
  opt.max_bytes = 300 * 1024;  // less than the factors and tiles of 400 positions × 2 layers × 4 heads
  opt.pyramid_first_level = 1;
  const int64_t run = record(path, a, 300, 100, opt);
  SessionReader reader(path);
  const RunSummary s = reader.run(run);
  EXPECT_EQ(s.status, "complete");
  EXPECT_NE(s.degraded_json, "[]");
  EXPECT_NE(s.degraded_json.find("attention factors"), std::string::npos) << s.degraded_json;
  EXPECT_LE(s.bytes, 400 * 1024);
  EXPECT_EQ(s.n_steps, 101);  // steps and tokens always survive
  EXPECT_EQ(s.n_tokens, 400);
}

// A finished session is one file (the log checkpointed and deleted); one that a viewer holds
// open at the end stays in WAL mode with its log emptied, and reads the same.
TEST(SessionRoundTrip, AFinishedSessionIsOneFileUnlessAViewerHoldsIt) {
  const SyntheticAttention a(16, 3);
  for (const bool viewer_open : {false, true}) {
    const std::string path = test::temp_path(viewer_open ? "held.mnemo" : "alone.mnemo");
    std::optional<Db> viewer;
    {
      Recorder rec(path, synthetic_run(a, "run"), {});
      for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, 16));
      rec.submit(StepRecord{0, "prefill", 0, 16, 1, 2});
      rec.end_step(0);
      if (viewer_open) {
        viewer.emplace(path, Db::Mode::ReadOnly);
        Stmt s = viewer->prepare("SELECT count(*) FROM _run");  // a read opens the log's shared state
        ASSERT_TRUE(s.step());
      }
      rec.finish();
    }
    std::error_code ec;
    const auto wal_size = std::filesystem::file_size(path + "-wal", ec);
    if (viewer_open) {
      ASSERT_FALSE(ec) << "the log stays while the viewer holds the file";
      EXPECT_EQ(wal_size, 0u) << "but it is emptied";
      EXPECT_EQ(viewer->pragma_int("user_version"), 2);
    } else {
      EXPECT_TRUE(ec) << "no log left beside a finished session";
      EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
    }
    viewer.reset();
    SessionReader reader(path);
    EXPECT_EQ(reader.run(1).status, "complete");
    expect_tile_matches(reader.tile(1, 0, 1, 2, 0, 0, 0), a, 1, 2, 16, 16, 2e-5);
  }
}

TEST(SessionRoundTrip, ReaderSeesCommittedStepsWhileRecording) {
  const SyntheticAttention a(64, 3);
  const std::string path = test::temp_path("live.mnemo");
  Recorder rec(path, synthetic_run(a, "live"), {});
  for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, 60));
  rec.submit(StepRecord{0, "prefill", 0, 60, 1, 2});
  rec.end_step(0);
  for (int i = 0; i < 500 && rec.stats().steps_committed < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  {
    SessionReader reader(path);
    const RunSummary s = reader.run(rec.run_id());
    EXPECT_EQ(s.status, "incomplete");
    EXPECT_EQ(s.n_steps, 1);
    expect_tile_matches(reader.tile(rec.run_id(), 0, 1, 2, 0, 0, 0), a, 1, 2, 60, 60, 2e-5);
    for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(1, layer, 60, 1));
    rec.submit(StepRecord{1, "decode", 60, 1, 3, 4});
    rec.end_step(1);
    for (int i = 0; i < 500 && rec.stats().steps_committed < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // The same reader picks up the new step.
    expect_tile_matches(reader.tile(rec.run_id(), 1, 1, 2, 0, 0, 0), a, 1, 2, 61, 61, 2e-5);
  }
  rec.finish();
  EXPECT_EQ(SessionReader(path).run(1).status, "complete");
}

}  // namespace
}  // namespace mnemo::profiler

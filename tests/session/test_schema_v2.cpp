// Schema v2: a committed v1 session read through the v2 shape (exactly what the v1 build showed),
// fp32 and fp16 factors, checksums on tiles and state matrices, kinds registered by name, the
// stored map kind and the maps' labels.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/checksum.h"
#include "mnemo/profiler/session/session_file.h"
#include "mnemo/profiler/session/session_reader.h"
#include "session_test_util.h"

namespace mnemo::profiler {
namespace {

const std::string kV1Fixture = std::string(MNEMO_SOURCE_DIR) + "/tests/data/session/v1_smollm2_tiny.mnemo";

// A float32 .npy's values (the fixture's tile, written by the v1 build's `mnemo tile`).
std::vector<float> read_npy_f32(const std::string& path, size_t expected) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  if (bytes.size() < 10) return {};
  const size_t header = 10 + (static_cast<uint8_t>(bytes[8]) | static_cast<uint8_t>(bytes[9]) << 8);
  std::vector<float> v((bytes.size() - header) / 4);
  std::memcpy(v.data(), bytes.data() + header, v.size() * 4);
  EXPECT_EQ(v.size(), expected) << path;
  return v;
}

std::string copy_of_fixture(const std::string& name) {
  const std::string p = test::temp_path(name);
  std::filesystem::copy_file(kV1Fixture, p);
  return p;
}

TEST(SchemaV2, AV1SessionReadsAsTheV1BuildShowedIt) {
  const std::string path = copy_of_fixture("v1.mnemo");
  const auto before = std::filesystem::last_write_time(path);
  SessionReader r(path);
  EXPECT_EQ(r.schema_version(), 1);
  const RunSummary run = r.run(1);
  EXPECT_EQ(run.status, "complete");
  EXPECT_EQ(run.n_steps, 3);
  EXPECT_EQ(run.counts.attention_heads, 30 * 9 * 3);
  const MixerLayer& l = r.layer(1, 3);
  EXPECT_EQ(l.mixer, "softmax");
  EXPECT_EQ(l.n_heads, 9);
  EXPECT_EQ(l.n_kv_heads, 3);
  EXPECT_EQ(l.key_dim, 64);
  EXPECT_EQ(l.mask, "causal");
  const AttentionTile t = r.tile(1, 2, 3, 4, 0, 0, 0);
  EXPECT_EQ(t.label, "softmax probabilities");
  ASSERT_EQ(t.rows, 7);
  ASSERT_EQ(t.cols, 7);
  const std::vector<float> want = read_npy_f32(std::string(MNEMO_SOURCE_DIR) + "/tests/data/session/v1_smollm2_tiny.step2_layer3_head4.npy", 49);
  ASSERT_EQ(want.size(), t.max.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(t.max[i], want[i]) << "cell " << i;
  // Rows, columns and top-k go through the same map.
  const std::vector<float> row6 = r.row(1, 3, 4, 6);
  ASSERT_EQ(row6.size(), 7u);
  // (A single row takes the one-row path of the score loop: the same values within an ulp or two.)
  for (size_t j = 0; j < 7; ++j) EXPECT_NEAR(row6[j], want[6 * 7 + j], 1e-6);
  const std::vector<float> col0 = r.column(1, 2, 3, 4, 0);
  for (size_t i = 0; i < 7; ++i) EXPECT_NEAR(col0[i], want[i * 7], 1e-6);
  EXPECT_FALSE(r.head_metrics(1).empty());
  EXPECT_FALSE(r.kv(1).empty());
  EXPECT_GT(r.ops(1, 0, INT64_MAX).size(), 1000u);
  EXPECT_EQ(std::filesystem::last_write_time(path), before) << "opened read-only";
  // Never appended to: its runs stay as recorded.
  try {
    open_session_for_recording(path);
    ADD_FAILURE() << "a v1 session was opened for recording";
  } catch (const SessionError& e) {
    EXPECT_NE(std::string(e.what()).find("schema v1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("read-only"), std::string::npos) << e.what();
  }
}

RunInfo tiny_run() {
  RunInfo r;
  r.model_path = "m", r.model_format = "gguf", r.architecture = "llama", r.plugin_id = "t", r.plugin_version = "0";
  r.n_layers = 2, r.n_heads = 4, r.n_kv_heads = 2, r.head_dim = 32, r.wall_start_utc = "x";
  r.op_kinds = {"embed", "matmul"};
  return r;
}

std::string record_synthetic(const std::string& name, const test::SyntheticAttention& a, int64_t positions,
                             FactorDtype dtype, int pyramid_level = 3) {
  const std::string path = test::temp_path(name);
  RecorderOptions o;
  o.factor_dtype = dtype;
  o.pyramid_first_level = pyramid_level;
  Recorder rec(path, tiny_run(), o);
  for (int layer = 0; layer < a.layers; ++layer) rec.submit(a.capture(0, layer, 0, positions, dtype));
  rec.submit(OpRecord{0, 0, 1, -1, -1, 1, 10, 20});
  rec.submit(StepRecord{0, "prefill", 0, positions, 1, 2});
  rec.end_step(0);
  rec.finish();
  return path;
}

TEST(SchemaV2, FactorsAreStoredInTheDtypeAskedFor) {
  const test::SyntheticAttention a(40, 3);
  for (const FactorDtype dtype : {FactorDtype::F32, FactorDtype::F16}) {
    const std::string path = record_synthetic(std::string("dtype-") + dtype_name(dtype) + ".mnemo", a, 40, dtype);
    SessionReader r(path);
    Stmt s = r.db().prepare("SELECT DISTINCT factor, dtype, length(data), length(crc32) FROM _mixer_factor WHERE layer = 0 ORDER BY factor");
    std::map<std::string, std::tuple<std::string, int64_t, int64_t>> got;
    while (s.step()) got[s.text(0)] = {s.text(1), s.integer(2), s.integer(3)};
    const int64_t bytes = dtype == FactorDtype::F32 ? 4 : 2;
    EXPECT_EQ(got["q"], std::make_tuple(std::string(dtype_name(dtype)), 4 * 40 * 32 * bytes, int64_t{16}));
    EXPECT_EQ(got["k"], std::make_tuple(std::string(dtype_name(dtype)), 2 * 40 * 32 * bytes, int64_t{8}));
    EXPECT_EQ(got["lse"], std::make_tuple(std::string("f32"), int64_t{4 * 40 * 4}, int64_t{16}));
    // The values are fp16-exact, so both dtypes give the ground truth.
    const std::vector<float> row = r.row(1, 1, 2, 39);
    const std::vector<double> want = a.row(1, 2, 39);
    ASSERT_EQ(row.size(), want.size());
    for (size_t j = 0; j < row.size(); ++j) EXPECT_NEAR(row[j], want[j], 1e-6);
    // Op kinds are registered by name: the session's ids, the producer's names.
    Stmt op = r.db().prepare("SELECT kind FROM op");
    ASSERT_TRUE(op.step());
    EXPECT_EQ(op.text(0), "matmul");
    Stmt layer = r.db().prepare("SELECT mixer, memory, n_heads, n_kv_heads, key_dim, mask FROM layer WHERE layer = 1");
    ASSERT_TRUE(layer.step());
    EXPECT_EQ(layer.text(0), "softmax");
    EXPECT_EQ(layer.text(1), "kv_cache");
    EXPECT_EQ(layer.integer(2), 4);
    EXPECT_EQ(layer.integer(3), 2);
    EXPECT_EQ(layer.integer(4), 32);
    EXPECT_EQ(layer.text(5), "causal");
  }
}

TEST(SchemaV2, ADamagedPyramidTileIsNamedNotShown) {
  const test::SyntheticAttention a(300, 5);
  const std::string path = record_synthetic("tile-crc.mnemo", a, 300, FactorDtype::F32, 1);
  {
    SessionReader r(path);
    const AttentionTile t = r.tile(1, 0, 1, 2, 1, 0, 0);
    EXPECT_EQ(t.recomputed_rows, 0) << "served from the stored pyramid";
  }
  {
    Db db(path, Db::Mode::ReadWriteCreate);
    // One byte changed (to whatever it is not), the length kept.
    db.exec("UPDATE _pyramid_tile SET mean = CAST(substr(mean, 1, 20) || CASE WHEN substr(mean, 21, 1) = x'5A' THEN x'A5' "
            "ELSE x'5A' END || substr(mean, 22) AS BLOB) WHERE layer = 1 AND head = 2 AND level = 1");
  }
  SessionReader r(path);
  try {
    r.tile(1, 0, 1, 2, 1, 0, 0);
    ADD_FAILURE() << "a damaged tile was served";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path + ": pyramid tile of run 1 layer 1 head 2 step 0 level 1 (0, 0) column mean: checksum mismatch"),
              std::string::npos)
        << what;
  }
  EXPECT_NO_THROW(r.tile(1, 0, 1, 1, 1, 0, 0)) << "another head's tile is intact";
}

TEST(SchemaV2, StateStatisticsAndMatricesRoundTripWithChecksums) {
  const std::string path = test::temp_path("state.mnemo");
  {
    Recorder rec(path, tiny_run(), {});
    // A kind no build registers a map for (the recurrent families' kinds all have one now).
    rec.submit(LayerRecord{0, "unmapped_mixer", "recurrent_state", 2, 2, 3, 4, 3, 4, "none", 0, 1.0});
    for (int64_t step = 0; step < 2; ++step)
      for (int head = 0; head < 2; ++head) {
        rec.submit(StateStatRecord{0, head, step, 1.5 + step, 2.0 + head});
        std::vector<float> m(12);
        for (size_t i = 0; i < m.size(); ++i) m[i] = static_cast<float>(step * 100 + head * 10) + static_cast<float>(i);
        rec.submit(StateMatrixRecord{0, head, step, 3, 4, std::move(m)});
      }
    rec.submit(StepRecord{0, "prefill", 0, 1, 1, 2});
    rec.submit(StepRecord{1, "decode", 1, 1, 3, 4});
    rec.end_step(1);
    rec.finish();
  }
  {
    SessionReader r(path);
    const auto stats = r.state_stats(1);
    ASSERT_EQ(stats.size(), 4u);
    EXPECT_EQ(stats[3].step, 1);
    EXPECT_EQ(stats[3].head, 1);
    EXPECT_DOUBLE_EQ(stats[3].norm, 2.5);
    EXPECT_DOUBLE_EQ(stats[3].effective_rank, 3.0);
    const auto mats = r.state_matrices(1, 0, 1);
    ASSERT_EQ(mats.size(), 2u);
    EXPECT_EQ(std::get<std::vector<float>>(mats[1].data)[5], 115.f);
    // A kind this build has no map for is named, not guessed at.
    EXPECT_EQ(r.layer(1, 0).mixer, "unmapped_mixer");
    try {
      r.tile(1, 0, 0, 0, 0, 0, 0);
      ADD_FAILURE() << "a map without an implementation was drawn";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("mixer 'unmapped_mixer'"), std::string::npos) << e.what();
    }
  }
  {
    Db db(path, Db::Mode::ReadWriteCreate);
    db.exec("UPDATE _state_matrix SET data = x'00000000' || substr(data, 5) WHERE head = 1 AND step = 1");
  }
  SessionReader r(path);
  try {
    r.state_matrices(1, 0, 1);
    ADD_FAILURE() << "a damaged state matrix was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("state matrix of run 1 layer 0 head 1 step 1 column data: checksum mismatch"),
              std::string::npos)
        << e.what();
  }
}

TEST(SchemaV2, AStoredMapServesItsTilesWithItsLabel) {
  const std::string path = test::temp_path("stored.mnemo");
  std::vector<float> cells(5 * 6);
  for (size_t i = 0; i < cells.size(); ++i) cells[i] = static_cast<float>(i) / 64.f;  // fp16-exact
  {
    Recorder rec(path, tiny_run(), {});
    rec.submit(LayerRecord{0, "stored", "none", 1, 1, 8, 8, 0, 0, "none", 0, 1.0});
    PyramidTileRecord t;
    t.layer = 0, t.head = 0, t.level = 0, t.step = 0, t.rows = 5, t.cols = 6, t.codec = TileCodec::F16;
    t.max = encode_tile(cells, t.codec);
    t.mean = t.max;
    rec.submit(t);
    rec.submit(StepRecord{0, "prefill", 0, 5, 1, 2});
    rec.end_step(0);
    rec.finish();
  }
  SessionReader r(path);
  EXPECT_EQ(r.map_label(1, 0), "stored tiles");
  const AttentionTile t = r.tile(1, 0, 0, 0, 0, 0, 0);
  EXPECT_EQ(t.label, "stored tiles");
  ASSERT_EQ(t.rows, 5);
  ASSERT_EQ(t.cols, 6);
  for (size_t i = 0; i < cells.size(); ++i) EXPECT_EQ(t.max[i], cells[i]);
  const AttentionTile pooled = r.tile(1, 0, 0, 0, 1, 0, 0);
  EXPECT_EQ(pooled.max[0], std::max({cells[0], cells[1], cells[6], cells[7]}));
}

}  // namespace
}  // namespace mnemo::profiler

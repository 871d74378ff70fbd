// The recorder's per-layer store of factors (the fallback's input): rows and keys assembled per
// head from the captures' head-major blocks, gaps read as nothing seen, a rewound cache replacing
// what came after it, factors the file holds read back from it only when needed.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "mnemo/core/error.h"

#include "layer_factors.h"
#include "mnemo/core/fp16.h"

namespace mnemo::profiler {
namespace {

constexpr int kHeads = 2, kD = 3;

// A block of rows pos0 .. pos0+n-1 whose q values encode (head, position, dim) and whose lse
// encodes (head, position), head-major as captures hold them.
struct RowBlock {
  std::vector<uint16_t> q;
  std::vector<float> lse;
  RowBlock(int64_t pos0, int64_t n, float tag = 0.f) {
    for (int h = 0; h < kHeads; ++h)
      for (int64_t i = 0; i < n; ++i) {
        for (int t = 0; t < kD; ++t) q.push_back(mnemo::f32_to_fp16(value(h, pos0 + i, t) + tag));
        lse.push_back(static_cast<float>(h * 1000 + pos0 + i) + tag);
      }
  }
  static float value(int h, int64_t pos, int t) { return static_cast<float>(h * 100 + pos * 4 + t); }
};

std::vector<uint16_t> key_block(int64_t pos0, int64_t n, int n_kv, float tag = 0.f) {
  std::vector<uint16_t> k;
  for (int g = 0; g < n_kv; ++g)
    for (int64_t j = 0; j < n; ++j)
      for (int t = 0; t < kD; ++t) k.push_back(mnemo::f32_to_fp16(RowBlock::value(g, pos0 + j, t) + tag));
  return k;
}

TEST(LayerFactors, AssemblesHeadsAcrossBlocks) {
  LayerFactors f;
  const RowBlock prefill(0, 5), decode(5, 1);
  f.keep_rows(0, 0, 5, 5, prefill.q, prefill.lse, false);
  f.keep_rows(1, 5, 1, 6, decode.q, decode.lse, false);
  f.keep_keys(0, 0, 5, key_block(0, 5, 1), false);
  f.keep_keys(1, 5, 1, key_block(5, 1, 1), false);

  std::vector<float> q;  // widened by head_rows
  std::vector<QueryRow> rows;
  for (int h = 0; h < kHeads; ++h) {
    f.head_rows(h, kD, 0, 6, q, rows);
    ASSERT_EQ(q.size(), 6u * kD);
    ASSERT_EQ(rows.size(), 6u);
    for (int64_t i = 0; i < 6; ++i) {
      EXPECT_EQ(rows[i].pos, i);
      EXPECT_EQ(rows[i].n_k, i < 5 ? 5 : 6);
      EXPECT_EQ(rows[i].lse, static_cast<float>(h * 1000 + i));
      for (int t = 0; t < kD; ++t) EXPECT_EQ((q[i * kD + t]), RowBlock::value(h, i, t)) << h << " " << i;
    }
  }
  std::vector<float> k;
  f.head_keys(0, kD, 6, k);
  ASSERT_EQ(k.size(), 6u * kD);
  for (int64_t j = 0; j < 6; ++j)
    for (int t = 0; t < kD; ++t) EXPECT_EQ(k[j * kD + t], RowBlock::value(0, j, t));

  // Fewer rows than kept: only those.
  f.head_rows(1, kD, 0, 3, q, rows);
  EXPECT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].lse, 1002.f);
  // A range that starts inside the prefill block and ends in the decode block.
  f.head_rows(1, kD, 3, 6, q, rows);
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(q.size(), 3u * kD);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].pos, 3 + i);
    EXPECT_EQ(rows[i].lse, static_cast<float>(1003 + i));
    for (int t = 0; t < kD; ++t) EXPECT_EQ((q[i * kD + t]), RowBlock::value(1, 3 + i, t));
  }
}

TEST(LayerFactors, GapsSeeNothing) {
  LayerFactors f;
  const RowBlock late(4, 2);
  f.keep_rows(0, 4, 2, 6, late.q, late.lse, false);
  f.keep_keys(0, 4, 2, key_block(4, 2, 1), false);
  std::vector<float> q;  // widened by head_rows
  std::vector<QueryRow> rows;
  f.head_rows(0, kD, 0, 6, q, rows);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rows[i].pos, i);
    EXPECT_EQ(rows[i].n_k, 0);  // sees no key: its probabilities are all zero
    for (int t = 0; t < kD; ++t) EXPECT_EQ(q[i * kD + t], 0);
  }
  EXPECT_EQ(rows[4].n_k, 6);
  std::vector<float> k;
  f.head_keys(0, kD, 6, k);
  for (int t = 0; t < 4 * kD; ++t) EXPECT_EQ(k[t], 0.f);
  EXPECT_EQ(k[4 * kD], RowBlock::value(0, 4, 0));
}

TEST(LayerFactors, RewoundCacheReplacesLaterPositions) {
  LayerFactors f;
  const RowBlock first(0, 6), redo(3, 2, 0.5f);
  f.keep_rows(0, 0, 6, 6, first.q, first.lse, false);
  f.keep_keys(0, 0, 6, key_block(0, 6, 2), false);
  // The cache went back to position 3: rows and keys from 3 on are the new ones, 5 is gone.
  f.keep_rows(1, 3, 2, 5, redo.q, redo.lse, false);
  f.keep_keys(1, 3, 2, key_block(3, 2, 2, 0.5f), false);

  std::vector<float> q;  // widened by head_rows
  std::vector<QueryRow> rows;
  f.head_rows(1, kD, 0, 6, q, rows);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].n_k, 6);
    EXPECT_EQ(rows[i].lse, static_cast<float>(1000 + i));
  }
  for (int64_t i = 3; i < 5; ++i) {
    EXPECT_EQ(rows[i].n_k, 5);
    EXPECT_EQ(rows[i].lse, static_cast<float>(1000 + i) + 0.5f);
    EXPECT_EQ((q[i * kD]), RowBlock::value(1, i, 0) + 0.5f);
  }
  EXPECT_EQ(rows[5].n_k, 0);  // dropped by the rewind
  std::vector<float> k;
  f.head_keys(1, kD, 6, k);
  EXPECT_EQ(k[2 * kD], RowBlock::value(1, 2, 0));
  EXPECT_EQ(k[3 * kD], RowBlock::value(1, 3, 0) + 0.5f);
  EXPECT_EQ(k[5 * kD], 0.f);

  // A full restart drops everything kept.
  const RowBlock again(0, 1, 0.25f);
  f.keep_rows(2, 0, 1, 1, again.q, again.lse, false);
  f.head_rows(0, kD, 0, 2, q, rows);
  EXPECT_EQ(rows[0].lse, 0.25f);
  EXPECT_EQ(rows[1].n_k, 0);
}

TEST(LayerFactors, FactorsInTheFileAreReadBackWhenFirstNeededThenCopied) {
  // What "the file" holds, by step: the prefill (rows 0..3) and one decode step (row 4).
  const RowBlock prefill(0, 4), decode(4, 1);
  const std::map<int64_t, const RowBlock*> file_rows{{0, &prefill}, {1, &decode}};
  const std::map<int64_t, std::vector<uint16_t>> file_keys{{0, key_block(0, 4, 1)}, {1, key_block(4, 1, 1)}};
  int row_reads = 0, key_reads = 0;
  const LayerFactors::RowLoader read_rows = [&](int64_t step, FactorData& q, std::vector<float>& lse) {
    ++row_reads;
    q = file_rows.at(step)->q;
    lse = file_rows.at(step)->lse;
  };
  const LayerFactors::KeyLoader read_keys = [&](int64_t step, FactorData& k) {
    ++key_reads;
    k = file_keys.at(step);
  };

  LayerFactors f;
  f.keep_rows(0, 0, 4, 4, prefill.q, prefill.lse, true);
  f.keep_keys(0, 0, 4, file_keys.at(0), true);
  f.keep_rows(1, 4, 1, 5, decode.q, decode.lse, true);
  f.keep_keys(1, 4, 1, file_keys.at(1), true);
  std::vector<float> q;  // widened by head_rows
  std::vector<QueryRow> rows;
  std::vector<float> k;
  EXPECT_THROW(f.head_rows(0, kD, 0, 5, q, rows), Error) << "kept as places in the file, not loaded";
  EXPECT_THROW(f.head_keys(0, kD, 5, k), Error);

  f.load(read_rows, read_keys);
  EXPECT_EQ(row_reads, 2);
  EXPECT_EQ(key_reads, 2);
  f.head_rows(1, kD, 0, 5, q, rows);
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(rows[i].n_k, i < 4 ? 4 : 5);
    EXPECT_EQ(rows[i].lse, static_cast<float>(1000 + i));
    EXPECT_EQ((q[i * kD + 2]), RowBlock::value(1, i, 2));
  }
  f.head_keys(0, kD, 5, k);
  EXPECT_EQ(k[4 * kD + 1], RowBlock::value(0, 4, 1));

  // Loaded once, the layer keeps copies: a later step needs no read, loaded or not.
  const RowBlock next(5, 1);
  f.keep_rows(2, 5, 1, 6, next.q, next.lse, true);
  f.keep_keys(2, 5, 1, key_block(5, 1, 1), true);
  f.load(read_rows, read_keys);
  EXPECT_EQ(row_reads, 2);
  EXPECT_EQ(key_reads, 2);
  f.head_rows(0, kD, 5, 6, q, rows);
  EXPECT_EQ(rows[0].lse, 5.f);
}

TEST(LayerFactors, AFileThatGivesBackOtherSizesIsAnError) {
  const RowBlock prefill(0, 3);
  LayerFactors f;
  f.keep_rows(7, 0, 3, 3, prefill.q, prefill.lse, true);
  const auto short_rows = [&](int64_t, FactorData& q, std::vector<float>& lse) {
    q = std::vector<uint16_t>(prefill.q.begin(), prefill.q.end() - 1);
    lse = prefill.lse;
  };
  try {
    f.load(short_rows, [](int64_t, FactorData&) {});
    FAIL() << "a short BLOB was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("step 7"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnemo::profiler

// The recorder's per-layer store of factors (the fallback's input): rows and keys assembled per
// head from the captures' head-major blocks, gaps read as nothing seen, a rewound cache replacing
// what came after it.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

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
  f.keep_rows(0, 5, 5, prefill.q, prefill.lse);
  f.keep_rows(5, 1, 6, decode.q, decode.lse);
  f.keep_keys(0, 5, key_block(0, 5, 1));
  f.keep_keys(5, 1, key_block(5, 1, 1));

  std::vector<uint16_t> q;
  std::vector<QueryRow> rows;
  for (int h = 0; h < kHeads; ++h) {
    f.head_rows(h, kD, 0, 6, q, rows);
    ASSERT_EQ(q.size(), 6u * kD);
    ASSERT_EQ(rows.size(), 6u);
    for (int64_t i = 0; i < 6; ++i) {
      EXPECT_EQ(rows[i].pos, i);
      EXPECT_EQ(rows[i].n_k, i < 5 ? 5 : 6);
      EXPECT_EQ(rows[i].lse, static_cast<float>(h * 1000 + i));
      for (int t = 0; t < kD; ++t) EXPECT_EQ(mnemo::fp16_to_f32(q[i * kD + t]), RowBlock::value(h, i, t)) << h << " " << i;
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
    for (int t = 0; t < kD; ++t) EXPECT_EQ(mnemo::fp16_to_f32(q[i * kD + t]), RowBlock::value(1, 3 + i, t));
  }
}

TEST(LayerFactors, GapsSeeNothing) {
  LayerFactors f;
  const RowBlock late(4, 2);
  f.keep_rows(4, 2, 6, late.q, late.lse);
  f.keep_keys(4, 2, key_block(4, 2, 1));
  std::vector<uint16_t> q;
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
  f.keep_rows(0, 6, 6, first.q, first.lse);
  f.keep_keys(0, 6, key_block(0, 6, 2));
  // The cache went back to position 3: rows and keys from 3 on are the new ones, 5 is gone.
  f.keep_rows(3, 2, 5, redo.q, redo.lse);
  f.keep_keys(3, 2, key_block(3, 2, 2, 0.5f));

  std::vector<uint16_t> q;
  std::vector<QueryRow> rows;
  f.head_rows(1, kD, 0, 6, q, rows);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].n_k, 6);
    EXPECT_EQ(rows[i].lse, static_cast<float>(1000 + i));
  }
  for (int64_t i = 3; i < 5; ++i) {
    EXPECT_EQ(rows[i].n_k, 5);
    EXPECT_EQ(rows[i].lse, static_cast<float>(1000 + i) + 0.5f);
    EXPECT_EQ(mnemo::fp16_to_f32(q[i * kD]), RowBlock::value(1, i, 0) + 0.5f);
  }
  EXPECT_EQ(rows[5].n_k, 0);  // dropped by the rewind
  std::vector<float> k;
  f.head_keys(1, kD, 6, k);
  EXPECT_EQ(k[2 * kD], RowBlock::value(1, 2, 0));
  EXPECT_EQ(k[3 * kD], RowBlock::value(1, 3, 0) + 0.5f);
  EXPECT_EQ(k[5 * kD], 0.f);

  // A full restart drops everything kept.
  const RowBlock again(0, 1, 0.25f);
  f.keep_rows(0, 1, 1, again.q, again.lse);
  f.head_rows(0, kD, 0, 2, q, rows);
  EXPECT_EQ(rows[0].lse, 0.25f);
  EXPECT_EQ(rows[1].n_k, 0);
}

}  // namespace
}  // namespace mnemo::profiler

// Attention recomputed from recorded factors, and what is derived from it: the per-head metrics
// and the pooled pyramid levels. The recorder and the reader share this code, so an overview
// pooled at record time and a tile recomputed on request agree.
//
//   p[i][j] = exp(q_i · k_j · scale − lse_i)   for j visible to row i, else 0.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mnemo/profiler/session/records.h"

namespace mnemo::profiler {

// A query row: its absolute position, how many keys were resident when it ran, its log-sum-exp.
struct QueryRow {
  int64_t pos = 0;
  int64_t n_k = 0;
  float lse = 0.f;
};

struct MaskSpec {
  AttentionMask kind = AttentionMask::Causal;
  int64_t window = 0;
  bool visible(const QueryRow& r, int64_t j) const {
    if (j < 0 || j >= r.n_k) return false;
    if (kind == AttentionMask::None) return true;
    if (j > r.pos) return false;
    return j >= begin(r);
  }
  // Visible key range of a row: [begin, end).
  int64_t begin(const QueryRow& r) const {
    if (kind == AttentionMask::Window) return std::max<int64_t>(0, r.pos - window + 1);
    if (kind == AttentionMask::Segments) return window > 0 ? r.pos / window * window : r.pos + 1;
    return 0;
  }
  int64_t end(const QueryRow& r) const { return kind == AttentionMask::None ? r.n_k : std::min(r.n_k, r.pos + 1); }
};

// Scaled scores q·k·scale for rows × keys [col0, col0 + cols); hidden cells are −inf.
void attention_logits(std::span<const float> q, std::span<const QueryRow> rows, std::span<const float> k, int64_t col0,
                      int64_t cols, int d, float scale, const MaskSpec& mask, float* out);

// p for rows × keys [col0, col0 + cols): q is [rows][d] fp32, k is [cols][d] fp32 (keys col0..),
// out is [rows][cols]. Hidden cells are 0.
void attention_probs(std::span<const float> q, std::span<const QueryRow> rows, std::span<const float> k, int64_t col0,
                     int64_t cols, int d, float scale, const MaskSpec& mask, float* out);

void fp16_to_f32(std::span<const uint16_t> in, float* out);
void f32_to_fp16(std::span<const float> in, uint16_t* out);

// A row's sparsity from its effective number of keys (1/Σp², the inverse participation ratio)
// among `visible` keys: 0 for uniform attention, 1 − 1/visible for all of it on one key.
inline double sparsity_of(double effective_keys, int64_t visible) {
  return visible > 0 ? 1.0 - effective_keys / static_cast<double>(visible) : 0.0;
}

// Accumulates the per-head metrics of docs/SESSION_FORMAT.md (_head_metric) row by row.
class HeadMetricAccumulator {
 public:
  // `p` holds the row's probabilities for keys [0, p.size()).
  void add_row(std::span<const float> p, const QueryRow& row, const MaskSpec& mask);
  HeadMetrics result() const;
  int64_t rows() const { return rows_; }

 private:
  double entropy_ = 0, distance_ = 0, sink_ = 0, sparsity_ = 0;
  int64_t rows_ = 0;
};

// Pooled levels of one head's map with rows × cols cells at level 0. Level L cell (r, c) pools
// cells [r·2^L, (r+1)·2^L) × [c·2^L, (c+1)·2^L) inside the map: the max, and the mean over the
// cells inside the map (hidden cells count as 0).
inline constexpr int64_t kTileSize = 256;
inline constexpr int kMaxTileLevel = 24;  // cells of 2^24 × 2^24: past the longest map a session holds

// Cells of a map side of `n` cells at level L (a partial block at the edge counts), and the tiles
// that hold them.
constexpr int64_t cells_at_level(int64_t n, int level) { return (n + (int64_t{1} << level) - 1) >> level; }
constexpr int64_t tiles_at_level(int64_t n, int level) { return (cells_at_level(n, level) + kTileSize - 1) / kTileSize; }

struct PooledLevel {
  int level = 0;
  int64_t rows = 0, cols = 0;         // pooled cells
  std::vector<float> max, sum;         // [rows][cols]
};

// Number of level-0 cells of map (map_rows × map_cols) inside pooled cell (r, c) of level L.
int64_t cells_inside(int level, int64_t r, int64_t c, int64_t map_rows, int64_t map_cols);

// Builds level `first` from rows of p fed in order, then every level above it by 2×2 pooling.
class PyramidBuilder {
 public:
  PyramidBuilder(int64_t map_rows, int64_t map_cols, int first_level);
  // Starts from a level already pooled elsewhere (the engine's 4×4 cells: level 2).
  PyramidBuilder(int64_t map_rows, int64_t map_cols, PooledLevel base);
  // Rows row0 .. row0+n-1 of the map, each `stride` floats, covering cols [0, map_cols).
  void add_rows(int64_t row0, int64_t n, const float* p, int64_t stride);
  // Levels first .. last, where `last` is the first level whose map fits one tile and at least
  // `min_last` (stored_levels' last).
  std::vector<PooledLevel> finish(int min_last = 0);

 private:
  int64_t map_rows_, map_cols_;
  PooledLevel base_;
};

// The levels a map of this size stores: [first, last], where last is the first level whose map fits
// one tile, or `first` itself when a lower level already fits (the overview is then level `first`,
// the levels under it are pooled on request); empty (first > last) when the map fits one level-0 tile.
struct LevelRange {
  int first = 0, last = -1;
};
LevelRange stored_levels(int64_t map_rows, int64_t map_cols, int first_level);

// Tile payloads: fp16 [rows][cols], zstd-compressed.
std::vector<uint8_t> encode_tile(std::span<const float> values, TileCodec codec);
std::vector<float> decode_tile(std::span<const uint8_t> bytes, TileCodec codec, int64_t n_values, const char* what);

}  // namespace mnemo::profiler

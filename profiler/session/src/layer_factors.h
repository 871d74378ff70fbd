// One layer's attention factors as the recorder received them, kept for the writer's fallback:
// a capture that came without the kernel's statistics has its metrics and pyramid recomputed from
// the scores, and a pyramid pools every row of the map up to its step. Each capture's fp16 buffers
// are kept whole, one copy each (the capture's own buffers go back to the engine for reuse); a
// head's contiguous rows and keys are assembled only when the fallback runs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "mnemo/profiler/session/attention_math.h"

namespace mnemo::profiler {

class LayerFactors {
 public:
  // Query rows pos0 .. pos0+n-1 of every head, each seeing keys [0, n_k): q fp16 [n_heads][n][d],
  // lse [n_heads][n]. Rows at or after pos0 that were kept before are dropped (a rewound cache).
  void keep_rows(int64_t pos0, int64_t n, int64_t n_k, std::span<const uint16_t> q, std::span<const float> lse);
  // Keys pos0 .. pos0+n-1 of every KV head, fp16 [n_kv_heads][n][d]; later keys kept before are dropped.
  void keep_keys(int64_t pos0, int64_t n, std::span<const uint16_t> k);

  // Head h's rows [begin, end): fp16 q into q ([end - begin][d]) and their positions, key counts
  // and lse into rows. Rows never received read as seeing no key.
  void head_rows(int h, int d, int64_t begin, int64_t end, std::vector<uint16_t>& q, std::vector<QueryRow>& rows) const;
  // KV head g's keys [0, n_k) widened to fp32 ([n_k][d]); keys never received read as zeros.
  void head_keys(int g, int d, int64_t n_k, std::vector<float>& out) const;

 private:
  struct Block {
    int64_t pos0 = 0, n = 0;  // positions pos0 .. pos0+n-1
    int64_t used = 0;         // of which the first `used` are still current
    int64_t n_k = 0;          // rows only: the keys each row sees
    std::vector<uint16_t> data;
    std::vector<float> lse;
  };
  static void drop_from(std::vector<Block>& blocks, int64_t pos);

  std::vector<Block> rows_, keys_;
};

}  // namespace mnemo::profiler

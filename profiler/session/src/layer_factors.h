// One layer's attention factors as the recorder received them, kept for the writer's fallback:
// a capture that came without the kernel's statistics has its metrics and pyramid recomputed from
// the scores, and a pyramid pools every row of the map up to its step. Factors the session file
// holds are kept as where to find them (their step) and read back only when the fallback first
// needs the layer: most runs never do, and a copy of every factor would cost the writer as much
// memory as the factors themselves (~30 MB for a 540-token SmolLM2 prefill) and the time to
// fill it. Factors the file does not hold (not recorded, or dropped by the byte budget) are
// copied, one copy per capture (the capture's own buffers go back to the engine for reuse). A
// head's contiguous rows and keys are assembled only when the fallback runs.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "mnemo/profiler/session/attention_math.h"

namespace mnemo::profiler {

class LayerFactors {
 public:
  // Query rows pos0 .. pos0+n-1 of every head, each seeing keys [0, n_k), captured at `step`: q
  // [n_heads][n][d] (fp32 or fp16), lse [n_heads][n]. Rows at or after pos0 that were kept before
  // are dropped (a rewound cache). in_file: the session file holds these rows under `step`.
  void keep_rows(int64_t step, int64_t pos0, int64_t n, int64_t n_k, const FactorData& q, std::span<const float> lse,
                 bool in_file);
  // Keys pos0 .. pos0+n-1 of every KV head, [n_kv_heads][n][d]; later keys kept before are dropped.
  void keep_keys(int64_t step, int64_t pos0, int64_t n, const FactorData& k, bool in_file);

  // Reads back every block kept as a place in the file (the loaders fill a step's q and lse, or
  // k, as they were written) and keeps copies from then on: a layer that needed the fallback once
  // will need it again. Throws Error when the file gives back other sizes than were kept.
  using RowLoader = std::function<void(int64_t step, FactorData& q, std::vector<float>& lse)>;
  using KeyLoader = std::function<void(int64_t step, FactorData& k)>;
  void load(const RowLoader& rows, const KeyLoader& keys);

  // Head h's rows [begin, end): q widened to fp32 into q ([end - begin][d]) and their positions,
  // key counts and lse into rows. Rows never received read as seeing no key.
  void head_rows(int h, int d, int64_t begin, int64_t end, std::vector<float>& q, std::vector<QueryRow>& rows) const;
  // KV head g's keys [0, n_k) widened to fp32 ([n_k][d]); keys never received read as zeros.
  void head_keys(int g, int d, int64_t n_k, std::vector<float>& out) const;

 private:
  struct Block {
    int64_t step = 0;
    int64_t pos0 = 0, n = 0;  // positions pos0 .. pos0+n-1
    int64_t used = 0;         // of which the first `used` are still current
    int64_t n_k = 0;          // rows only: the keys each row sees
    bool in_memory = true;    // false: data and lse are in the file, of these sizes
    size_t data_size = 0, lse_size = 0;
    FactorDtype dtype = FactorDtype::F32;
    FactorData data;
    std::vector<float> lse;
  };
  static void drop_from(std::vector<Block>& blocks, int64_t pos);
  void keep(std::vector<Block>& blocks, Block b, const FactorData& data, std::span<const float> lse, bool in_file);

  std::vector<Block> rows_, keys_;
  bool copies_ = false;  // the fallback has run on this layer: keep copies
};

}  // namespace mnemo::profiler

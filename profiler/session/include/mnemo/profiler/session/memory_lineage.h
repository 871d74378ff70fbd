// Lineage of a recurrent memory transformer's memory: how much of each memory slot derives from
// each input token of the segments before it, and how much from the learned initial memory,
// propagated through the recorded reads and writes (docs/ARCHITECTURES.md, "Memory lineage").
//
// Method: attention rollout (Abnar and Zuidema, 2020) within each segment, then chained across
// segments. For segment s, every layer's attention among the segment's rows ([read slots | tokens |
// write slots]) is averaged over heads and mixed with the identity for the residual stream,
// Â_l = ½·mean_h A_l,h + ½·I; their product R_s = Â_{L−1} ··· Â_0 says how much each row's last
// hidden state draws on each row's input. A write slot's input is the memory mem_s itself (the
// same vectors as the read slots), so its share folds into the read slot of the same index. Then
//   lineage(mem_{s+1})[i] = Σ_j R_s[write i, read j] · lineage(mem_s)[j] + Σ_t R_s[write i, token t] · e_t,
// and lineage(mem_0) is the learned memory alone. Assumptions: attention says where information
// moves and the residual path carries half of it (the rollout's own assumption); the MLPs and
// norms move nothing between rows. It is an attribution, not an exact decomposition.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::profiler {

struct MemoryLineage {
  int64_t segment = 0;       // the memory mem_segment: what segment `segment` reads
  int64_t memory_slots = 0;  // M
  int64_t n_positions = 0;   // tokens 0 .. n_positions-1 it may derive from (segments before it)
  std::vector<float> learned;  // [M]: the share of the learned initial memory
  std::vector<float> tokens;   // [M][n_positions]: the share of each token; learned + tokens sum to 1 per slot
};

// The lineage of mem_segment of a recorded run (segment 0: the learned memory alone). Throws Error
// naming what is missing when a segment before it was not recorded with its memory rows.
MemoryLineage memory_lineage(SessionReader& reader, int64_t run_id, int64_t segment);
// The lineages of mem_0 .. mem_last in one pass (each builds on the one before).
std::vector<MemoryLineage> memory_lineages(SessionReader& reader, int64_t run_id, int64_t last);

}  // namespace mnemo::profiler

// A synthetic session with every kind of data a canvas can draw: attention heads with known
// patterns (a sink, the previous token, a local window, content-like noise), head metrics and
// pyramids computed by the real recorder, KV occupancy under a sliding-window policy, memory
// tokens per segment, op timings on two threads, counters. The viz demo and the GUI tests draw
// it; it goes through the same Recorder and reader as a real run.
#pragma once

#include <cstdint>
#include <string>

namespace mnemo::viz {

struct DemoOptions {
  int64_t prompt_tokens = 192;
  int64_t decode_steps = 24;
  int32_t layers = 4, heads = 4, kv_heads = 2, head_dim = 16;
  int64_t window = 48;         // layers 2 and 3 attend (and keep keys) within this window, plus 4 sinks
  int64_t memory_slots = 8;    // memory tokens per segment
  int64_t segment = 64;        // tokens per memory segment
  std::string label = "viz demo";
  uint64_t seed = 7;
  // > 0: the run is stored as if recorded on a task prompt, with an answer every this many prompt
  // positions; the k-th answer is predicted right unless (k + seed) % 3 == 0 (demo_answer_right).
  int64_t answer_every = 0;
};

// Whether the demo's k-th answer (from 0) is predicted right (for tests).
inline bool demo_answer_right(int64_t k, uint64_t seed) { return (static_cast<uint64_t>(k) + seed) % 3 != 0; }

// Appends a run to the session at `path` (created when missing); returns its run id. Throws
// SessionError when the file cannot be written.
int64_t write_demo_session(const std::string& path, const DemoOptions& options = {});

// Which pattern a demo head has (for tests): 0 sink, 1 previous token, 2 local, 3 content noise.
inline int demo_head_pattern(int32_t head) { return head % 4; }

}  // namespace mnemo::viz

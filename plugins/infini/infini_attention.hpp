// Infini-attention (Munkhdalai, Faruqui and Gopal, 2024) on a GPT-2 or Llama stack: the input is
// cut into segments of S tokens, each run with its own positions 0 .. S-1; in every layer each
// head attends causally within the segment (softmax, RoPE where the backbone has it) and also
// retrieves from a compressive memory of the segments before, per KV head M [d_k][d_v] and
// z [d_k], with the unrotated query: A_mem = sigma(q) M / (sigma(q) . z), sigma = ELU + 1. The
// head's output is g A_mem + (1 - g) A_dot with g = sigmoid(beta_h), a learned scalar per head
// (the paper's eq. 6); segment 0 has no memory and outputs A_dot. When a segment completes, its
// keys and values update the memory (eq. 4, "linear"): M += sigma(K)^T V, z += sum_t sigma(k_t);
// or with the delta rule (eq. 5, "delta"): V is replaced by V - sigma(K) M / (sigma(K) z) once the
// memory holds anything.
#pragma once

#include <memory>

#include "model_def.hpp"

namespace infini {

struct Settings {
  int32_t segment_size = 0;    // S, tokens per segment
  int64_t max_tokens = 0;      // the longest sequence the model accepts (its context)
  bool delta_rule = false;     // eq. 5 instead of eq. 4
};

std::unique_ptr<mnemo::sdk::Model> make_infini(const transformer::Host& host, transformer::ModelDef backbone,
                                               const Settings& settings);

}  // namespace infini

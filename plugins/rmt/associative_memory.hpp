// The Associative Recurrent Memory Transformer (ARMT; Rodkin, Kuratov, Bulatov and Burtsev,
// 2024), as the authors' AssociativeMemoryCell runs it over a Hugging Face GPT-2 or Llama.
//
// Segment s runs the backbone over [its S tokens | M memory rows] at positions 0 .. S+M-1, the
// memory rows being the learned `memory` in every segment. What crosses segments is one
// associative memory per layer l and memory head h: a matrix A [d_key][d_model/H] and a
// normaliser z [d_key], with d_key = 2 nu d_mem / H. Before block l every row x reads it,
// x += (phi(q) A) / (z . phi(q) + 1e-5), q = W_mq x, phi = DPFP_nu then L2-normalised; after
// block l the memory rows' outputs y_j write it with the delta rule:
//   k_j = phi(W_mk y_j), v_j = W_mv y_j, b_j = sigmoid(W_mb y_j + c),
//   v̄_j = (k_j A) / (z . k_j + 1e-5),   g_j = clip(1 - (z . k_j + 1e-5) / |k_j|^2, 0, 1),
//   A += sum_j b_j k_j (v_j - v̄_j)^T,   z += sum_j g_j k_j
// (in the first written segment v̄_j = 0 and g_j = 1). Only a completed segment writes.
#pragma once

#include <memory>

#include "recurrent_memory.hpp"

namespace rmt {

struct AssociativeSettings {
  int32_t d_mem = 0;  // width of the memory's query and key projections
  int32_t heads = 1;  // memory heads H (d_mem and d_model split evenly among them)
  int32_t nu = 3;     // DPFP's order: d_key per head = 2 nu d_mem / H
};

std::unique_ptr<mnemo::sdk::Model> make_associative_memory(const transformer::Host& host, transformer::ModelDef backbone,
                                                           const Settings& settings, const AssociativeSettings& memory);

}  // namespace rmt

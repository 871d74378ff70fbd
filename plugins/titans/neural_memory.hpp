// Titans' long-term neural memory in its linear form (Behrouz, Zhong and Mirrokni, 2024) as a
// layer in front of every block of a GPT-2 or Llama stack ("memory as a layer"). Per layer and
// memory head a matrix M [d_h][d_h] (values x keys) and its momentum S, both zero at the start of
// a sequence, are updated token by token by a gradient step on |M k - v|^2 / 2 with momentum and
// forgetting, and read with the updated memory; with h = RMSNorm(x_t):
//   q = normalize(W_q h), k = normalize(W_k h), v = W_v h,
//   alpha = sigmoid(w_alpha h + b), eta = sigmoid(w_eta h + b), theta = max_lr sigmoid(w_theta h + b),
//   S = eta S - theta (M k - v) k^T,  M = (1 - alpha) M + S,  y = M q,
// and the block's input becomes x + W_o y. The recurrence runs token by token (chunk size 1), so
// every position is exact however the tokens are fed.
#pragma once

#include <memory>

#include "model_def.hpp"

namespace titans {

struct Settings {
  int32_t heads = 1;      // memory heads H
  int32_t head_dim = 0;   // d_h: each head's memory is d_h x d_h
  float max_lr = 1.f;     // theta's upper bound
  float norm_eps = 1e-6f; // the memory layer's RMSNorm
};

std::unique_ptr<mnemo::sdk::Model> make_neural_memory(const transformer::Host& host, transformer::ModelDef backbone,
                                                      const Settings& settings);

}  // namespace titans

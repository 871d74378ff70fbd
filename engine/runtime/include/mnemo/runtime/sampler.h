// Chooses the next token from logits: greedy (temperature 0) or seeded sampling with
// temperature, top-k and top-p. The same seed and logits always give the same tokens.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace mnemo::rt {

struct SamplingParams {
  float temperature = 0.f;  // 0: greedy
  int32_t top_k = 40;       // 0: no limit
  float top_p = 0.95f;      // 1: no limit
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

// Index of the largest value; the lowest index wins ties.
int32_t argmax(std::span<const float> values);

}  // namespace mnemo::rt

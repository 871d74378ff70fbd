// Prefill then token-by-token decode, the loop behind `mnemo run`, `bench` and recording.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "mnemo/runtime/model.h"
#include "mnemo/runtime/sampler.h"

namespace mnemo::rt {

struct GenerationTimings {
  int64_t prefill_tokens = 0, decode_tokens = 0;
  int64_t prefill_ns = 0, decode_ns = 0;
};

// Resets the model, runs the prompt as one prefill step, then samples up to n_new tokens, one
// decode step each; stops early at the tokenizer's end-of-sequence token (unless ignore_eos).
// on_token(id) is called for every new token as soon as it is chosen; returning false stops.
std::vector<int32_t> generate(Model& model, const std::vector<int32_t>& prompt, int64_t n_new,
                              Sampler& sampler, const std::function<bool(int32_t)>& on_token,
                              GenerationTimings* timings = nullptr, bool ignore_eos = false);

}  // namespace mnemo::rt

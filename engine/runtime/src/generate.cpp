#include "mnemo/runtime/generate.h"

#include "mnemo/core/error.h"

namespace mnemo::rt {

std::vector<int32_t> generate(Model& model, const std::vector<int32_t>& prompt, int64_t n_new,
                              Sampler& sampler, const std::function<bool(int32_t)>& on_token,
                              GenerationTimings* timings, bool ignore_eos) {
  if (!model.is_decoder()) throw UsageError("this model is an encoder: it does not generate text");
  if (prompt.empty()) throw UsageError("the prompt encodes to no tokens");
  model.reset();
  GenerationTimings t;
  std::vector<int32_t> out;
  const int32_t eos = model.tokenizer().special().eos;

  int64_t start = monotonic_ns();
  std::span<const float> logits = model.forward(prompt);
  t.prefill_ns = monotonic_ns() - start;
  t.prefill_tokens = static_cast<int64_t>(prompt.size());

  start = monotonic_ns();
  for (int64_t i = 0; i < n_new; ++i) {
    const int32_t next = sampler.sample(logits);
    out.push_back(next);
    const bool go_on = on_token ? on_token(next) : true;
    if (!go_on || (!ignore_eos && next == eos) || i + 1 == n_new) break;
    if (model.position() + 1 > model.max_context()) break;
    logits = model.forward(std::span<const int32_t>(&next, 1));
    ++t.decode_tokens;
  }
  t.decode_ns = monotonic_ns() - start;
  if (timings) *timings = t;
  return out;
}

}  // namespace mnemo::rt

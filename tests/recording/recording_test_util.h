// Helpers of the recording tests: the recorded generation run again, unrecorded, with the
// engine's own probes going to a test's sink.
#pragma once

#include <string>
#include <vector>

#include "mnemo/record/record_run.h"
#include "mnemo/runtime/generate.h"

namespace mnemo::test {

// Greedy generation of req.prompt and req.n_new tokens with `sink` attached; the tokens generated.
inline std::vector<int32_t> generate_with_sink(rt::Model& model, const record::RecordRequest& req, rt::ProbeSink& sink) {
  model.set_probe_sink(&sink);
  rt::SamplingParams sp;
  sp.temperature = 0;
  rt::Sampler sampler(sp);
  const auto ids = model.tokenizer().encode(req.prompt, true);
  const auto out = rt::generate(model, ids, req.n_new, sampler, {});
  model.set_probe_sink(nullptr);
  return out;
}

}  // namespace mnemo::test

// mnemo run: prompt in, continuation out.
#include <cstdio>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/runtime/generate.h"

namespace mnemo::cli {

int cmd_run(const Argv& argv) {
  Args args("run", "Generates a continuation of a prompt and prints it to stdout.");
  add_model_options(args);
  add_prompt_options(args);
  args.option("-n,--n-predict", "N", "tokens to generate (default 64)");
  add_sampling_options(args, 0.8);
  args.flag("-v,--verbose", "print token counts and speed to stderr");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;

  const std::string prompt = prompt_text(args);
  const int64_t n = args.integer("n-predict", 64, 0, kMaxNewTokens);
  const rt::SamplingParams sp = sampling(args, 0.8);

  auto model = open_model(args);
  if (!model->is_decoder())
    throw UsageError(model->file().path() + " is an encoder (" + model->info().architecture + "): it does not generate text");
  const std::vector<int32_t> ids = model->tokenizer().encode(prompt, true);
  if (static_cast<int64_t>(ids.size()) + n > model->max_context())
    throw UsageError("the prompt (" + std::to_string(ids.size()) + " tokens) and " + std::to_string(n) +
                     " new tokens exceed the context of " + std::to_string(model->max_context()));
  rt::Sampler sampler(sp);
  StreamPrinter printer(model->tokenizer());
  rt::GenerationTimings t;
  if (n > 0)
    rt::generate(*model, ids, n, sampler, [&](int32_t id) { printer.push(id); return true; }, &t, args.has("ignore-eos"));
  printer.finish();
  if (args.has("verbose")) {
    auto rate = [](int64_t tokens, int64_t ns) { return ns > 0 ? tokens * 1e9 / static_cast<double>(ns) : 0.0; };
    std::fprintf(stderr, "prompt: %lld tokens, %.1f tokens/s; generated: %lld tokens, %.1f tokens/s; %d threads\n",
                 static_cast<long long>(t.prefill_tokens), rate(t.prefill_tokens, t.prefill_ns),
                 static_cast<long long>(t.decode_tokens), rate(t.decode_tokens, t.decode_ns), model->pool().size());
  }
  return 0;
}

}  // namespace mnemo::cli

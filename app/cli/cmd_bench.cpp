// mnemo bench: prefill and decode throughput with the engine's best settings.
#include <algorithm>
#include <array>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/blas_core.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/matmul.h"
#include "mnemo/runtime/kinds.h"
#include "mnemo/runtime/memory.h"
#include "mnemo/runtime/probes.h"
#include "mnemo/runtime/sampler.h"

namespace mnemo::cli {
namespace {

// Subscribes to every probe and reads a little of each, as a recorder would before copying.
struct TouchingSink : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  bool wants_state() const override { return true; }
  bool wants_kv() const override { return true; }
  bool wants_residual() const override { return true; }
  bool wants_op_timings() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    for (const auto& f : p.factors) checksum += f.data[0];
  }
  void on_state(const rt::StateProbe& p) override { checksum += p.state[0]; }
  void on_kv(const rt::KvProbe& p) override { checksum += static_cast<double>(p.bytes_used); }
  void on_residual(const rt::ResidualProbe& p) override { checksum += p.x[0]; }
  void on_op(const rt::OpTiming& t) override { checksum += static_cast<double>(t.end_ns - t.start_ns); }
  double checksum = 0;
};

// Sums op time per kind, separately for prefill and decode steps (--ops).
struct OpTotals : rt::ProbeSink {
  bool wants_op_timings() const override { return true; }
  void on_step_begin(const rt::StepProbe& s) override { decode = s.kind == rt::StepKind::Decode; }
  void on_op(const rt::OpTiming& t) override {
    auto& totals = decode ? decode_ns : prefill_ns;
    if (totals.size() <= static_cast<size_t>(t.kind)) totals.resize(static_cast<size_t>(t.kind) + 1, 0);
    totals[static_cast<size_t>(t.kind)] += t.end_ns - t.start_ns;
  }
  bool decode = false;
  std::vector<int64_t> prefill_ns, decode_ns;  // by op kind id (rt::op_kinds())
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int cmd_bench(const Argv& argv) {
  Args args("bench", "Times prefill (one forward over T prompt tokens) and decode (one token per step, greedy,\n"
                     "after the prefill) and prints tokens per second; the median of --repeat runs.");
  add_model_options(args);
  args.option("--prefill", "T", "prompt length in tokens (default 512)")
      .option("--decode", "N", "decode steps (default 64)")
      .option("--repeat", "R", "runs to take the median of (default 3)")
      .option("--probes", "none|all", "subscribe to no probe (default) or to every probe")
      .flag("--ops", "also time every op and print the split per op kind")
      .flag("--json", "print a JSON object");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  const int64_t T = args.integer("prefill", 512, 1, kMaxNewTokens), N = args.integer("decode", 64, 0, kMaxNewTokens);
  const int64_t R = args.integer("repeat", 3, 1, 1000);

  const std::string probes = args.str("probes", "none");
  if (probes != "none" && probes != "all") throw UsageError("--probes must be none or all");
  auto model = open_model(args);
  TouchingSink sink;
  OpTotals totals;
  if (probes == "all" && args.has("ops")) throw UsageError("--ops and --probes all cannot be combined");
  if (probes == "all") model->set_probe_sink(&sink);
  if (args.has("ops")) model->set_probe_sink(&totals);
  const auto& info = model->info();
  if (T + N > model->max_context())
    throw UsageError("--prefill + --decode = " + std::to_string(T + N) + " exceeds the context of " + std::to_string(model->max_context()));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, info.vocab_size - 1);
  std::vector<int32_t> prompt(static_cast<size_t>(T));
  for (auto& id : prompt) id = pick(rng);

  // A warm-up pass pages the weights in and sizes the arena and KV cache.
  model->reset();
  model->forward(prompt);

  std::vector<double> prefill, decode;
  std::vector<double> step_ms;  // every decode step of every run, for a per-step median
  for (int64_t r = 0; r < R; ++r) {
    model->reset();
    int64_t start = rt::monotonic_ns();
    auto logits = model->forward(prompt);
    prefill.push_back(static_cast<double>(T) * 1e9 / static_cast<double>(rt::monotonic_ns() - start));
    if (!model->is_decoder() || N == 0) continue;
    int32_t next = rt::argmax(logits);
    start = rt::monotonic_ns();
    for (int64_t i = 0; i < N; ++i) {
      const int64_t step_start = rt::monotonic_ns();
      next = rt::argmax(model->forward(std::span<const int32_t>(&next, 1)));
      step_ms.push_back(static_cast<double>(rt::monotonic_ns() - step_start) / 1e6);
    }
    decode.push_back(static_cast<double>(N) * 1e9 / static_cast<double>(rt::monotonic_ns() - start));
  }

  nlohmann::json j;
  j["model"] = model->file().path();
  j["architecture"] = info.architecture;
  j["threads"] = model->pool().size();
  j["cpu"] = kernels::cpu_level();
  const BlasCore& blas = setup_openblas_core();
  j["blas_core"] = blas.core;
  j["blas_core_chosen_by"] = blas.chosen_by;
  j["prefill_tokens"] = T;
  j["decode_tokens"] = N;
  j["repeat"] = R;
  j["probes"] = probes;
  j["prefill_tokens_per_s"] = median(prefill);
  j["decode_tokens_per_s"] = decode.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(decode));
  // The median step: what a decode step costs when nothing else runs, robust to the preemptions
  // that move a whole run's mean on a shared machine.
  j["decode_step_ms_median"] = step_ms.empty() ? nlohmann::json(nullptr) : nlohmann::json(median(step_ms));
  // What the model's memories (KV caches, recurrent states, convolution windows) hold after the
  // last run's prefill and decode: the state or cache a family pays per sequence.
  j["memory_bytes_used"] = model->memory().bytes_used();
  j["memory_bytes_reserved"] = model->memory().bytes_reserved();
  if (args.has("ops")) {
    const auto names = rt::op_kind_names();
    totals.prefill_ns.resize(names.size(), 0);
    totals.decode_ns.resize(names.size(), 0);
    for (size_t k = 0; k < names.size(); ++k) {
      if (totals.prefill_ns[k] == 0 && totals.decode_ns[k] == 0) continue;  // kinds this model never ran
      j["ops_ms"]["prefill"][names[k]] = totals.prefill_ns[k] / 1e6 / static_cast<double>(R + 1);
      if (!decode.empty()) j["ops_ms"]["decode_per_step"][names[k]] = totals.decode_ns[k] / 1e6 / static_cast<double>(R * N);
    }
  }
  if (args.has("json")) {
    print_json(j);
  } else {
    std::printf("%s (%s), %d threads, %s kernels, BLAS core %s\n", model->file().path().c_str(), info.architecture,
                model->pool().size(), kernels::cpu_level(), blas.describe().c_str());
    std::printf("prefill: %8.1f tokens/s  (T = %lld, median of %lld)\n", median(prefill), static_cast<long long>(T),
                static_cast<long long>(R));
    if (!decode.empty())
      std::printf("decode:  %8.1f tokens/s  (%lld steps after the prefill)\n", median(decode), static_cast<long long>(N));
    if (args.has("ops")) {
      std::printf("\n%-12s %14s %18s\n", "op", "prefill ms", "decode ms/step");
      for (const auto& [name, ms] : j["ops_ms"]["prefill"].items())
        std::printf("%-12s %14.3f %18.4f\n", name.c_str(), ms.get<double>(),
                    decode.empty() ? 0.0 : j["ops_ms"]["decode_per_step"][name].get<double>());
    }
  }
  return 0;
}

}  // namespace mnemo::cli

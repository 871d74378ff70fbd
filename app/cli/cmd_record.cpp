// mnemo record: run a model on a prompt and record everything it showed into a session file.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/profiler/session/session_file.h"
#include "mnemo/record/record_run.h"
#include "mnemo/runtime/probes.h"
#include "mnemo/tasks/task_set.h"

namespace mnemo::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted.store(true); }

// "512M", "2G", "1500000": bytes.
int64_t parse_bytes(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    throw UsageError("--max-bytes expects a size like 200M or 1.5G, got '" + text + "'");
  }
  const std::string unit = text.substr(used);
  double mult = 1;
  if (unit == "K" || unit == "k" || unit == "KB") mult = 1e3;
  else if (unit == "M" || unit == "MB") mult = 1e6;
  else if (unit == "G" || unit == "GB") mult = 1e9;
  else if (!unit.empty()) throw UsageError("--max-bytes: unknown unit '" + unit + "' (use K, M or G)");
  if (!(v * mult >= 4096) || v * mult > 1e15) throw UsageError("--max-bytes must be at least 4096 bytes (5K)");
  return static_cast<int64_t>(v * mult);
}

// One line per answer of the task prompt: what was expected, what the model said, how sure it was.
void print_answers(const rt::Model& model, const std::vector<profiler::AnswerRecord>& answers) {
  std::printf("  answers: %lld of %zu right\n", static_cast<long long>(profiler::answers_right(answers)), answers.size());
  const tok::Tokenizer& tok = model.tokenizer();
  for (const auto& a : answers)
    std::printf("  %s position %lld: expected %s (p %.3f), predicted %s (p %.3f)\n",
                a.predicted_token == a.expected_token ? "right" : "WRONG", static_cast<long long>(a.position),
                tok.token_text(a.expected_token).c_str(), a.expected_p, a.predicted_text.c_str(), a.predicted_p);
}

}  // namespace

int cmd_record(const Argv& argv) {
  Args args("record", "Runs a model on a prompt and records every step into a session file (.mnemo). With several\n"
                      "--model, each model is recorded on the same prompt as one run of the session, in order.");
  add_model_options(args, true);
  add_prompt_options(args);
  add_sampling_options(args, 0.0);
  args.option("--task-prompt", "FILE",
              "a task example as the prompt (assets/prompts/*.task.json, or one line of a held-out set saved as a "
              "file): each run also stores the task's answers with the model's predictions")
      .option("-n,--n-predict", "N", "tokens to generate (default 64; encoders run the prompt once)")
      .option("-o,--out", "FILE",
              "the session file: a new name, an empty file or an existing session, which gets a new run (a symbolic "
              "link is written through; anything else is refused)")
      .option("--capture", "LIST", "what to record: all (default), none, or attention,metrics,pyramids,kv,ops,memory,states (full recurrent states, not in all)")
      .option("--max-bytes", "B", "byte budget for this run (e.g. 200M); past it the recording thins out")
      .option("--label", "TEXT", "a name for the run (default with several models: each model's file or folder name)")
      .option("--pyramid-level", "L", "lowest stored overview level (default 3; lower levels are pooled on request)")
      .option("--factor-dtype", "f32|f16",
              "precision of the stored q and k: f32 (default; recomputed scores equal the engine's) or f16 (half the "
              "bytes; scores within a few 1e-3)")
      .option("--writer-core", "MODE",
              "when the engine's threads fill every core: lend (default; the session writer works on a core the "
              "engine lends it between kernels) or compete (the OS schedules the writer beside the engine)")
      .flag("-q,--quiet", "no progress line");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;

  record::RecordRequest req;
  req.session_path = args.required("out");
  profiler::session_recording_path(req.session_path);  // a device, FIFO or folder is refused before the model loads
  if (args.has("task-prompt")) {
    if (args.has("prompt") || args.has("prompt-file")) throw UsageError("give one of --prompt, --prompt-file and --task-prompt");
    req.task = tasks::load_task_prompt(args.str("task-prompt"));
    req.prompt = req.task->example.text;
  } else {
    req.prompt = prompt_text(args);
  }
  req.n_new = args.integer("n-predict", 64, 0, kMaxNewTokens);
  req.captures = record::Captures::parse(args.str("capture", "all"));
  if (args.has("max-bytes")) req.max_bytes = parse_bytes(args.str("max-bytes"));
  req.label = args.str("label");
  req.sampling = sampling(args, 0.0);
  req.ignore_eos = args.has("ignore-eos");
  req.pyramid_first_level = static_cast<int>(args.integer("pyramid-level", 3, 1, 16));
  const std::string dtype = args.str("factor-dtype", "f32");
  if (dtype != "f32" && dtype != "f16") throw UsageError("--factor-dtype must be f32 or f16");
  req.factor_dtype = profiler::parse_dtype(dtype);
  const std::string writer_core = args.str("writer-core", "lend");
  if (writer_core != "lend" && writer_core != "compete") throw UsageError("--writer-core must be lend or compete");
  req.lend_core_to_writer = writer_core == "lend";
  req.cancel = &g_interrupted;

  const std::vector<std::string> model_paths = args.all("model");
  if (model_paths.empty()) throw UsageError("missing required option --model (see mnemo record --help)");
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const bool quiet = args.has("quiet");
  const bool tty = isatty(STDERR_FILENO);
  int64_t last_print = 0;
  auto progress = [&](const record::RecordProgress& p) {
    if (quiet) return;
    const int64_t now = rt::monotonic_ns();
    const bool last = p.step + 1 >= p.planned_steps;
    if (!tty && !last && p.step != 0 && now - last_print < 1000000000) return;  // logs: one line a second
    last_print = now;
    std::fprintf(stderr, "%sstep %lld/%lld  %lld tokens  %.1f tok/s  %.1f MB  ETA %.1f s%s", tty ? "\r\033[K" : "",
                 static_cast<long long>(p.step + 1), static_cast<long long>(p.planned_steps),
                 static_cast<long long>(p.tokens), p.tokens_per_s, p.mb_written, p.eta_s, tty ? "" : "\n");
    std::fflush(stderr);
  };
  record::RecordResult r;
  for (const std::string& path : model_paths) {
    // Every model is opened only when its turn comes: one model's memory at a time.
    auto model = open_model(args, path);
    if (model_paths.size() > 1 && !args.has("label")) req.label = std::filesystem::path(path).filename().string();
    r = record::record_run(*model, req, progress);
    if (!quiet && tty) std::fputc('\n', stderr);
    if (model_paths.size() > 1) std::printf("%s: ", req.label.c_str());
    std::printf("%s", r.generated_text.c_str());
    if (!r.generated_text.empty() || model_paths.size() > 1) std::printf("\n");
    if (req.task) print_answers(*model, r.answers);
    std::fprintf(stderr,
                 "recorded run %lld into %s: %lld steps, %lld tokens, %.1f MB written in %.3f s (prefill %.3f s); "
                 "writer thread %.3f s CPU (%s); back-pressure: %lld waits (%.1f ms); closing %.3f s%s\n",
                 static_cast<long long>(r.run_id), req.session_path.c_str(), static_cast<long long>(r.steps),
                 static_cast<long long>(r.tokens), static_cast<double>(r.stats.bytes_written) / 1e6,
                 static_cast<double>(r.wall_ns) / 1e9, static_cast<double>(r.prefill_ns) / 1e9,
                 static_cast<double>(r.stats.writer_cpu_ns) / 1e9,
                 r.stats.core_loans ? (std::to_string(r.stats.core_loans) + " loans of an engine core").c_str() : "own core",
                 static_cast<long long>(r.stats.backpressure_waits),
                 static_cast<double>(r.stats.backpressure_ns) / 1e6, static_cast<double>(r.closing_ns) / 1e9,
                 r.stats.records_dropped ? (", " + std::to_string(r.stats.records_dropped) + " records dropped by --max-bytes").c_str() : "");
    if (r.cancelled) break;
  }
  if (r.cancelled) {
    std::fprintf(stderr, "mnemo record: interrupted; the run is kept, marked incomplete\n");
    return 130;
  }
  return 0;
}

}  // namespace mnemo::cli

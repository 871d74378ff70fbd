// mnemo eval: a task model's accuracy on a memory task's held-out sets, through the engine.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/runtime/probes.h"
#include "mnemo/tasks/scoring.h"
#include "mnemo/tasks/task_set.h"

namespace mnemo::cli {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1)
    parts.push_back(text.substr(start, comma - start));
  parts.push_back(text.substr(start));
  return parts;
}

// assets/tasks beside the working directory or the executable (build/bin/mnemo in a checkout,
// bin/mnemo under an install prefix with share/mnemoscope), as the app finds its assets.
std::string default_tasks_dir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (const std::filesystem::path& root :
       {std::filesystem::current_path(ec), exe / ".." / "..", exe / "..", exe / ".." / "share" / "mnemoscope"})
    if (std::filesystem::is_directory(root / "assets" / "tasks", ec)) return (root / "assets" / "tasks").string();
  throw UsageError("cannot find assets/tasks beside the working directory or the executable: give --tasks-dir");
}

}  // namespace

int cmd_eval(const Argv& argv) {
  Args args("eval", "Runs a memory task's held-out sets (assets/tasks, from tools/train/tasks.py) through a task\n"
                    "model and prints its accuracy per length: an answer is right when the argmax of the logits\n"
                    "before it is the answer; an example when all its answers are.");
  add_model_options(args);
  args.option("--task", "NAME", "mqar, selective_copy, passkey, babi_single or babi_two")
      .option("--length", "T[,T...]", "held-out lengths (default: every length there is)")
      .option("--n", "N", "examples per length (default: all)")
      .option("--tasks-dir", "DIR", "where the held-out sets are (default: the checkout's assets/tasks)")
      .flag("--json", "print a JSON object")
      .flag("-q,--quiet", "no progress line");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  const std::string task = args.required("task");
  const std::string dir = args.has("tasks-dir") ? args.str("tasks-dir") : default_tasks_dir();
  std::vector<int64_t> lengths = tasks::heldout_lengths(dir, task);
  if (args.has("length")) {
    std::vector<int64_t> chosen;
    for (const std::string& part : split_list(args.str("length"))) {
      int64_t want = -1;
      const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), want);
      if (ec != std::errc() || end != part.data() + part.size() || want < 0)
        throw UsageError("--length expects lengths like 4 or 4,8,16, got '" + part + "'");
      if (std::find(lengths.begin(), lengths.end(), want) == lengths.end()) {
        std::string have;
        for (int64_t l : lengths) have += (have.empty() ? "" : ", ") + std::to_string(l);
        throw UsageError("--length " + part + ": the " + task + " sets have lengths " + have);
      }
      chosen.push_back(want);
    }
    lengths = chosen;
  }
  const int64_t n = args.integer("n", -1, 1, int64_t{1} << 40);
  auto model = open_model(args);
  if (!model->is_decoder())
    throw UsageError(model->file().path() + " is an encoder (" + model->info().architecture + "): it predicts no next token");

  const bool quiet = args.has("quiet") || args.has("json"), tty = isatty(STDERR_FILENO);
  nlohmann::json out;
  out["model"] = model->file().path();
  out["architecture"] = model->info().architecture;
  out["task"] = task;
  tasks::SetScore total;
  for (int64_t length : lengths) {
    const tasks::TaskSet set = tasks::load_task_set(tasks::heldout_path(dir, task, length));
    if (set.task != task) throw Error(set.path + ": holds examples of " + set.task + ", not " + task);
    const int64_t start = rt::monotonic_ns();
    const tasks::SetScore s = tasks::score_set(*model, set, n, [&](int64_t done, int64_t all) {
      if (quiet || (!tty && done != all)) return;
      std::fprintf(stderr, "%s%s length %lld: %lld/%lld examples%s", tty ? "\r\033[K" : "", task.c_str(),
                   static_cast<long long>(length), static_cast<long long>(done), static_cast<long long>(all),
                   tty ? "" : "\n");
      std::fflush(stderr);
    });
    if (!quiet && tty) std::fputs("\r\033[K", stderr);
    const double seconds = static_cast<double>(rt::monotonic_ns() - start) * 1e-9;
    out["lengths"].push_back({{"length", length}, {"examples", s.examples}, {"answers", s.answers},
                              {"answer_accuracy", s.answer_accuracy()}, {"example_accuracy", s.example_accuracy()},
                              {"seconds", seconds}});
    total.answers += s.answers, total.answers_right += s.answers_right;
    total.examples += s.examples, total.examples_right += s.examples_right;
    if (!args.has("json"))
      std::printf("%-16s length %-6lld %5lld examples  answers %6.2f%%  examples %6.2f%%  (%.1f s)\n", task.c_str(),
                  static_cast<long long>(length), static_cast<long long>(s.examples), s.answer_accuracy() * 100,
                  s.example_accuracy() * 100, seconds);
  }
  out["answer_accuracy"] = total.answer_accuracy();
  out["example_accuracy"] = total.example_accuracy();
  if (args.has("json")) print_json(out);
  else
    std::printf("%-16s all lengths   %5lld examples  answers %6.2f%%  examples %6.2f%%\n", task.c_str(),
                static_cast<long long>(total.examples), total.answer_accuracy() * 100, total.example_accuracy() * 100);
  return 0;
}

}  // namespace mnemo::cli

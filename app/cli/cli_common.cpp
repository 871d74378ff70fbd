#include "cli_common.h"

#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"
#include "mnemo/core/thread_pool.h"

namespace mnemo::cli {

int parse_or_exit(Args& args, const std::vector<std::string>& argv) {
  if (!args.parse(argv)) {
    std::fprintf(stderr, "%s\n\n%s", args.error().c_str(), args.usage().c_str());
    return 2;
  }
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  return -1;
}

void add_model_options(Args& args, bool several) {
  const std::string threads = "worker threads (default: all " + std::to_string(ThreadPool::hardware_threads()) +
                              " cores; at most " + std::to_string(ThreadPool::max_threads()) + ", 4 per core)";
  if (several) args.option("-m,--model", "PATH", "GGUF file or Hugging Face folder; repeat it for several models").repeatable();
  else args.option("-m,--model", "PATH", "GGUF file or Hugging Face folder");
  args.option("-t,--threads", "N", threads);
}

void add_prompt_options(Args& args) {
  args.option("-p,--prompt", "TEXT", "the prompt").option("-f,--prompt-file", "FILE", "read the prompt from a file");
}

std::string prompt_text(const Args& args) {
  if (args.has("prompt") == args.has("prompt-file")) throw UsageError("give exactly one of --prompt and --prompt-file");
  return args.has("prompt") ? args.str("prompt") : read_text_file(args.str("prompt-file"), 64u << 20);
}

void add_sampling_options(Args& args, double default_temperature) {
  char temperature[128];
  std::snprintf(temperature, sizeof temperature, "sampling temperature, 0..%g; 0 is greedy (default %g)", kMaxTemperature,
                default_temperature);
  args.option("--temperature", "T", temperature)
      .option("--top-k", "K", "sample from the K most likely tokens; 0 = all (default 40)")
      .option("--top-p", "P", "sample from the smallest set of mass P, in (0, 1] (default 0.95)")
      .option("-s,--seed", "S", "random seed for sampling, >= 0 (default 0)")
      .flag("--ignore-eos", "keep generating after the end-of-sequence token");
}

rt::SamplingParams sampling(const Args& args, double default_temperature) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  rt::SamplingParams sp;
  sp.temperature = static_cast<float>(args.number("temperature", default_temperature, 0.0, kMaxTemperature));
  sp.top_k = static_cast<int32_t>(args.integer("top-k", 40, 0, kInt32Max));
  sp.top_p = static_cast<float>(args.number("top-p", 0.95, 0.0, 1.0, /*lo_open=*/true));
  sp.seed = static_cast<uint64_t>(args.integer("seed", 0, 0, std::numeric_limits<int64_t>::max()));
  return sp;
}

std::unique_ptr<rt::Model> open_model(const Args& args) { return open_model(args, args.required("model")); }

std::unique_ptr<rt::Model> open_model(const Args& args, const std::string& path) {
  rt::ModelOptions options;
  // More threads than 4 per core only add switching, and each reserves a stack: refused before
  // any is started (the pool reports a thread it cannot start as an error, too).
  options.threads = static_cast<int>(args.integer("threads", 0, 0, ThreadPool::max_threads(),
                                                  "0 is one per core; at most 4 per core, 1024 in all"));
  return rt::Model::open(path, options, rt::PluginRegistry::discover());
}

namespace {
// Length of the longest prefix of s that does not end inside a UTF-8 sequence.
size_t complete_utf8_prefix(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return back < need ? n - back : n;
  }
  return n;
}
}  // namespace

void StreamPrinter::push(int32_t id) {
  ids_.push_back(id);
  const std::string text = tokenizer_.decode(ids_, /*skip_special=*/true);
  const size_t ready = complete_utf8_prefix(text);
  if (ready > printed_) {
    std::fwrite(text.data() + printed_, 1, ready - printed_, stdout);
    std::fflush(stdout);
    printed_ = ready;
  }
}

void StreamPrinter::finish() {
  const std::string text = tokenizer_.decode(ids_, true);
  if (text.size() > printed_) std::fwrite(text.data() + printed_, 1, text.size() - printed_, stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void print_json(const nlohmann::json& doc) {
  std::printf("%s\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace mnemo::cli

// Pieces several commands share: parsing a command line with --help handling, opening a model
// with the standard options.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "args.h"
#include "mnemo/runtime/model.h"
#include "mnemo/runtime/sampler.h"

namespace mnemo::cli {

// Parses; returns -1 to go on, or the exit status to return (after --help or a usage error).
int parse_or_exit(Args& args, const std::vector<std::string>& argv);

// Adds --model and --threads; `several`: --model may be repeated (Args::all("model")).
void add_model_options(Args& args, bool several = false);

// Adds --prompt and --prompt-file; prompt_text() reads whichever was given (exactly one).
void add_prompt_options(Args& args);
std::string prompt_text(const Args& args);

// Adds --temperature, --top-k, --top-p, --seed and --ignore-eos; sampling() checks their ranges
// (finite numbers only: a temperature of nan or inf would make every probability nan).
inline constexpr double kMaxTemperature = 100.0;  // far past uniform sampling already
// Tokens a command may be asked to run or generate: far beyond any model's context (each command
// checks the context itself), small enough that no sum of two counts overflows.
inline constexpr int64_t kMaxNewTokens = int64_t{1} << 30;
inline constexpr int64_t kMaxRunId = std::numeric_limits<int64_t>::max();  // run ids count from 1
void add_sampling_options(Args& args, double default_temperature);
rt::SamplingParams sampling(const Args& args, double default_temperature);
std::unique_ptr<rt::Model> open_model(const Args& args);                           // --model
std::unique_ptr<rt::Model> open_model(const Args& args, const std::string& path);  // --threads applied

// Prints a JSON document (indented, one newline) on stdout. Strings from files (session labels,
// paths, model metadata) need not be UTF-8: invalid bytes print as U+FFFD instead of failing.
void print_json(const nlohmann::json& doc);

// Prints text as tokens arrive, holding back bytes of a UTF-8 character split across tokens.
class StreamPrinter {
 public:
  explicit StreamPrinter(const tok::Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  void push(int32_t id);
  void finish();

 private:
  const tok::Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  size_t printed_ = 0;
};

}  // namespace mnemo::cli

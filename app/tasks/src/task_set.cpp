#include "mnemo/tasks/task_set.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.h"

namespace mnemo::tasks {
namespace {

// Far past the sets tools/train/tasks.py writes (~1 MB, 200 lines): a bigger file is not one.
constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{256} << 20;
constexpr size_t kMaxExamples = 1'000'000;
constexpr int64_t kMaxLength = int64_t{1} << 40;

// `line` 0: the whole file.
[[noreturn]] void bad(const std::string& path, size_t line, const std::string& what) {
  throw Error(path + (line ? ":" + std::to_string(line) : std::string()) + ": " + what);
}

}  // namespace

namespace {

struct ParsedExample {
  std::string task;
  int64_t length = 0;
  TaskExample example;
};

// One example object, as a held-out line or a task prompt file holds it; `line` 0 for a whole file.
ParsedExample parse_example(const nlohmann::json& j, const std::string& path, size_t line) {
  if (!j.is_object()) bad(path, line, "not a JSON object");
  if (!j.contains("task") || !j["task"].is_string() || !j.contains("length") || !j["length"].is_number_integer() ||
      !j.contains("text") || !j["text"].is_string() || !j.contains("answers") || !j["answers"].is_array())
    bad(path, line, "an example needs \"task\" (text), \"length\" (integer), \"text\" and \"answers\" (array)");
  ParsedExample out;
  out.task = j["task"].get<std::string>();
  out.length = j["length"].get<int64_t>();
  if (out.length < 0 || out.length > kMaxLength) bad(path, line, "length " + std::to_string(out.length) + " is out of range");
  TaskExample& e = out.example;
  e.text = j["text"].get<std::string>();
  for (const auto& a : j["answers"]) {
    if (!a.is_number_integer()) bad(path, line, "answers must be integer positions");
    const int64_t p = a.get<int64_t>();
    if (p < 1 || (!e.answers.empty() && p <= e.answers.back()))
      bad(path, line, "answers must be ascending positions after the first word (" + std::to_string(p) + ")");
    e.answers.push_back(p);
  }
  if (e.answers.empty()) bad(path, line, "an example without answers");
  return out;
}

void check_size(const std::string& path, const char* what) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path + ": cannot read the " + what + " (" + ec.message() + ")");
  if (bytes > kMaxFileBytes) throw Error(path + ": " + std::to_string(bytes) + " bytes is not a " + what);
}

}  // namespace

TaskSet load_task_set(const std::string& path) {
  check_size(path, "held-out set");
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the held-out set");
  TaskSet set;
  set.path = path;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) bad(path, n, "not a JSON object");
    ParsedExample e = parse_example(j, path, n);
    if (set.examples.empty()) set.task = e.task, set.length = e.length;
    else if (e.task != set.task || e.length != set.length)
      bad(path, n, "an example of " + e.task + " at length " + std::to_string(e.length) + " in a set of " + set.task +
                       " at length " + std::to_string(set.length));
    if (set.examples.size() == kMaxExamples) bad(path, n, "more than a million examples");
    set.examples.push_back(std::move(e.example));
  }
  if (set.examples.empty()) throw Error(path + ": no examples");
  return set;
}

TaskPrompt load_task_prompt(const std::string& path) {
  check_size(path, "task prompt");
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the task prompt");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw Error(path + ": not JSON (a task prompt is one example object of a held-out set)");
  ParsedExample e = parse_example(j, path, 0);
  return {e.task, e.length, std::move(e.example), path};
}

std::string heldout_path(const std::string& dir, const std::string& task, int64_t length) {
  return (std::filesystem::path(dir) / task / ("heldout-" + std::to_string(length) + ".jsonl")).string();
}

std::vector<int64_t> heldout_lengths(const std::string& dir, const std::string& task) {
  const std::filesystem::path folder = std::filesystem::path(dir) / task;
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec))
    throw Error(folder.string() + ": no held-out sets of a task named '" + task + "' here");
  std::vector<int64_t> lengths;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    // heldout-<1 to 12 digits>.jsonl
    const std::string file = entry.path().filename().string();
    constexpr std::string_view prefix = "heldout-", suffix = ".jsonl";
    if (file.size() <= prefix.size() + suffix.size() || !file.starts_with(prefix) || !file.ends_with(suffix)) continue;
    const std::string digits = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
    if (digits.size() > 12 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    lengths.push_back(std::stoll(digits));
  }
  if (ec) throw Error(folder.string() + ": " + ec.message());
  if (lengths.empty()) throw Error(folder.string() + ": no heldout-<length>.jsonl files");
  std::sort(lengths.begin(), lengths.end());
  return lengths;
}

}  // namespace mnemo::tasks

// mnemo info: what a session holds.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::cli {

int cmd_info(const Argv& argv) {
  Args args("info", "Describes a session file: its schema and every run in it.");
  args.positional("file", "the session (.mnemo)").flag("--json", "print JSON instead of text");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  profiler::SessionReader reader(args.required("file"));
  const auto runs = reader.runs();

  if (args.has("json")) {
    nlohmann::json j = {{"file", reader.path()}, {"schema_version", reader.schema_version()}, {"runs", nlohmann::json::array()}};
    for (const auto& r : runs) {
      nlohmann::json run = {
          {"id", r.id},
          {"label", r.info.label},
          {"model", r.info.model_path},
          {"format", r.info.model_format},
          {"arch", r.info.architecture},
          {"plugin", r.info.plugin_id + " " + r.info.plugin_version},
          {"kind", r.info.model_kind},
          {"status", r.status},
          {"error", r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error)},
          {"n_layers", r.info.n_layers},
          {"n_heads", r.info.n_heads},
          {"n_kv_heads", r.info.n_kv_heads},
          {"head_dim", r.info.head_dim},
          {"n_tokens", r.n_tokens},
          {"n_steps", r.n_steps},
          {"bytes", r.bytes},
          {"captures", r.info.captures},
          {"max_bytes", r.info.max_bytes ? nlohmann::json(*r.info.max_bytes) : nlohmann::json(nullptr)},
          {"degraded", nlohmann::json::parse(r.degraded_json, nullptr, false)},
          {"started_utc", r.info.wall_start_utc},
          {"duration_s", r.end_ns ? static_cast<double>(*r.end_ns - r.info.start_ns) / 1e9 : 0.0},
          {"counts",
           {{"attention_heads", r.counts.attention_heads},
            {"memory_snapshots", r.counts.memory_snapshots},
            {"kv_snapshots", r.counts.kv_snapshots},
            {"ops", r.counts.ops},
            {"kernels", r.counts.kernels}}},
          {"machine", nlohmann::json::parse(r.info.machine_json, nullptr, false)},
          {"options", nlohmann::json::parse(r.info.options_json, nullptr, false)},
      };
      if (const auto answers = reader.answers(r.id); !answers.empty())
        run["answers"] = {{"n", answers.size()}, {"right", profiler::answers_right(answers)}};
      j["runs"].push_back(std::move(run));
    }
    print_json(j);  // labels and paths are stored as given and need not be UTF-8
    return 0;
  }

  std::printf("%s: Mnemoscope session, schema v%lld, %zu run%s\n", reader.path().c_str(),
              static_cast<long long>(reader.schema_version()), runs.size(), runs.size() == 1 ? "" : "s");
  for (const auto& r : runs) {
    std::printf("\nrun %lld%s%s  [%s%s]\n", static_cast<long long>(r.id), r.info.label.empty() ? "" : "  ",
                r.info.label.c_str(), r.status.c_str(), r.error.empty() ? "" : (": " + r.error).c_str());
    std::printf("  model     %s (%s, %s, %s)\n", r.info.model_path.c_str(), r.info.architecture.c_str(),
                r.info.model_format.c_str(), r.info.model_kind.c_str());
    std::printf("  shape     %lld layers, %lld heads (%lld KV), head dim %lld\n", static_cast<long long>(r.info.n_layers),
                static_cast<long long>(r.info.n_heads), static_cast<long long>(r.info.n_kv_heads),
                static_cast<long long>(r.info.head_dim));
    std::printf("  recorded  %lld steps, %lld tokens, %.2f MB, started %s%s\n", static_cast<long long>(r.n_steps),
                static_cast<long long>(r.n_tokens), static_cast<double>(r.bytes) / 1e6, r.info.wall_start_utc.c_str(),
                r.end_ns ? (", " + std::to_string(static_cast<double>(*r.end_ns - r.info.start_ns) / 1e9).substr(0, 5) + " s").c_str() : "");
    std::printf("  captures  %s\n", r.info.captures.empty() ? "(none)" : r.info.captures.c_str());
    std::printf("  counts    %lld attention heads×steps, %lld KV snapshots, %lld memory snapshots, %lld ops, %lld kernels\n",
                static_cast<long long>(r.counts.attention_heads), static_cast<long long>(r.counts.kv_snapshots),
                static_cast<long long>(r.counts.memory_snapshots), static_cast<long long>(r.counts.ops),
                static_cast<long long>(r.counts.kernels));
    if (r.degraded_json != "[]") std::printf("  budget    %s\n", r.degraded_json.c_str());
    if (const auto answers = reader.answers(r.id); !answers.empty()) {
      // The task's name as record stored it in the options; a file may hold anything there.
      const nlohmann::json options = nlohmann::json::parse(r.info.options_json, nullptr, false);
      std::string task = "a task";
      if (options.is_object() && options.contains("task") && options["task"].is_object()) {
        const nlohmann::json& t = options["task"];
        if (t.contains("name") && t["name"].is_string()) task = t["name"].get<std::string>();
      }
      std::printf("  answers   %lld of %zu right (%s prompt; `answer` view)\n",
                  static_cast<long long>(profiler::answers_right(answers)), answers.size(), task.c_str());
    }
  }
  return 0;
}

}  // namespace mnemo::cli

// mnemo stats: where the time of a recorded run went, per op kind, per layer and per step kind.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::cli {
namespace {

void stats_for_run(const profiler::SessionReader& reader, const profiler::RunSummary& run, nlohmann::json* json) {
  using profiler::Stmt;
  const profiler::Db& db = reader.db();
  nlohmann::json j = {{"run", run.id}, {"model", run.info.model_path}, {"status", run.status}};

  // Steps: prefill vs decode.
  Stmt steps = db.prepare(
      "SELECT kind, count(*), sum(n_tokens), sum(end_ns - start_ns) FROM _step WHERE run_id = ? GROUP BY kind ORDER BY min(step)");
  steps.bind(1, run.id);
  int64_t step_ns = 0;
  nlohmann::json step_rows = nlohmann::json::array();
  while (steps.step()) {
    step_ns += steps.integer(3);
    step_rows.push_back({{"kind", steps.text(0)}, {"steps", steps.integer(1)}, {"tokens", steps.integer(2)}, {"ns", steps.integer(3)}});
  }
  j["steps"] = step_rows;

  Stmt total = db.prepare("SELECT count(*), coalesce(sum(end_ns - start_ns), 0) FROM _op WHERE run_id = ?");
  total.bind(1, run.id);
  total.step();
  const int64_t n_ops = total.integer(0), op_ns = total.integer(1);
  j["ops"] = n_ops;
  j["op_ns"] = op_ns;
  j["step_ns"] = step_ns;

  Stmt kinds = db.prepare(
      "SELECT k.name, count(*), sum(o.end_ns - o.start_ns), max(o.end_ns - o.start_ns) FROM _op AS o "
      "JOIN _op_kind AS k USING (kind) WHERE o.run_id = ? GROUP BY o.kind ORDER BY 3 DESC");
  kinds.bind(1, run.id);
  nlohmann::json kind_rows = nlohmann::json::array();
  while (kinds.step())
    kind_rows.push_back({{"kind", kinds.text(0)}, {"count", kinds.integer(1)}, {"ns", kinds.integer(2)}, {"max_ns", kinds.integer(3)}});
  j["by_kind"] = kind_rows;

  Stmt layers = db.prepare(
      "SELECT o.layer, sum(o.end_ns - o.start_ns), sum(CASE WHEN k.name = 'attention' THEN o.end_ns - o.start_ns ELSE 0 END), "
      "sum(CASE WHEN k.name = 'matmul' THEN o.end_ns - o.start_ns ELSE 0 END), count(*) FROM _op AS o "
      "JOIN _op_kind AS k USING (kind) WHERE o.run_id = ? GROUP BY o.layer ORDER BY o.layer");
  layers.bind(1, run.id);
  nlohmann::json layer_rows = nlohmann::json::array();
  while (layers.step())
    layer_rows.push_back({{"layer", layers.integer(0)}, {"ns", layers.integer(1)}, {"attention_ns", layers.integer(2)},
                          {"matmul_ns", layers.integer(3)}, {"count", layers.integer(4)}});
  j["by_layer"] = layer_rows;

  if (json) {
    json->push_back(j);
    return;
  }
  auto ms = [](int64_t ns) { return static_cast<double>(ns) / 1e6; };
  auto pct = [&](int64_t ns) { return op_ns > 0 ? 100.0 * static_cast<double>(ns) / static_cast<double>(op_ns) : 0.0; };
  std::printf("run %lld  %s  [%s]\n", static_cast<long long>(run.id), run.info.model_path.c_str(), run.status.c_str());
  for (const auto& s : step_rows) {
    const int64_t n = s["steps"], tokens = s["tokens"], ns = s["ns"];
    std::printf("  %-8s %5lld steps %7lld tokens %10.2f ms  %8.1f tok/s  %8.3f ms/step\n", s["kind"].get<std::string>().c_str(),
                static_cast<long long>(n), static_cast<long long>(tokens), ms(ns),
                ns > 0 ? static_cast<double>(tokens) * 1e9 / static_cast<double>(ns) : 0.0, ms(ns) / static_cast<double>(n));
  }
  if (n_ops == 0) {
    std::printf("  no op timings recorded (capture 'ops' was off)\n");
    return;
  }
  std::printf("  %lld ops, %.2f ms, %.1f%% of step time\n\n", static_cast<long long>(n_ops), ms(op_ns),
              step_ns > 0 ? 100.0 * static_cast<double>(op_ns) / static_cast<double>(step_ns) : 0.0);
  std::printf("  %-12s %9s %12s %7s %10s %10s\n", "op kind", "count", "total ms", "%", "mean µs", "max µs");
  for (const auto& k : kind_rows) {
    const int64_t ns = k["ns"], count = k["count"], mx = k["max_ns"];
    std::printf("  %-12s %9lld %12.2f %6.1f%% %10.1f %10.1f\n", k["kind"].get<std::string>().c_str(),
                static_cast<long long>(count), ms(ns), pct(ns), static_cast<double>(ns) / 1e3 / static_cast<double>(count),
                static_cast<double>(mx) / 1e3);
  }
  std::printf("\n  %-6s %12s %7s %14s %12s %9s\n", "layer", "total ms", "%", "attention ms", "matmul ms", "ops");
  for (const auto& l : layer_rows) {
    const int64_t layer = l["layer"], ns = l["ns"], att = l["attention_ns"], mm = l["matmul_ns"], count = l["count"];
    std::printf("  %-6s %12.2f %6.1f%% %14.2f %12.2f %9lld\n", layer < 0 ? "-" : std::to_string(layer).c_str(), ms(ns),
                pct(ns), ms(att), ms(mm), static_cast<long long>(count));
  }
}

}  // namespace

int cmd_stats(const Argv& argv) {
  Args args("stats", "Summarizes where a recorded run spent its time: per op kind, per layer, prefill and decode.");
  args.positional("file", "the session (.mnemo)")
      .option("--run", "R", "only this run (default: every run)")
      .flag("--json", "print JSON instead of tables");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  profiler::SessionReader reader(args.required("file"));
  std::vector<profiler::RunSummary> runs;
  if (args.has("run")) runs.push_back(reader.run(args.integer("run", 1, 1, kMaxRunId)));
  else runs = reader.runs();
  nlohmann::json j = nlohmann::json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i && !args.has("json")) std::printf("\n");
    stats_for_run(reader, runs[i], args.has("json") ? &j : nullptr);
  }
  if (args.has("json")) std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

}  // namespace mnemo::cli

// mnemo export: a session for other tools: a Perfetto trace, a Chrome JSON trace, or CSV files.
#include <cstdio>
#include <optional>
#include <string>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/profiler/chrome_json_writer.h"
#include "mnemo/profiler/export/session_export.h"
#include "mnemo/profiler/perfetto_writer.h"
#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::cli {
namespace {

// What a trace export wrote, for the summary line.
std::string trace_summary(const profiler::Trace& t) {
  return std::to_string(t.tracks().size()) + " tracks, " + std::to_string(t.slices().size()) + " slices, " +
         std::to_string(t.counters().size()) + " counter samples";
}

}  // namespace

int cmd_export(const Argv& argv) {
  Args args("export", "Writes a session as a Perfetto trace, a Chrome JSON trace or CSV files (one per view).");
  args.positional("file", "the session (.mnemo)")
      .option("--format", "perfetto|chrome|csv", "what to write")
      .option("--out", "PATH", "the trace file, or the directory for CSV files")
      .option("--run", "R", "export only this run (default: every run)");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;
  const std::string format = args.str("format");
  if (format != "perfetto" && format != "chrome" && format != "csv")
    throw UsageError(format.empty() ? "--format is required (perfetto, chrome or csv)"
                                    : "--format must be perfetto, chrome or csv, got '" + format + "'");
  if (!args.has("out")) throw UsageError("--out is required");
  const std::string out = args.str("out");
  std::optional<int64_t> run;
  if (args.has("run")) run = args.integer("run", 0, 1, kMaxRunId);

  profiler::SessionReader reader(args.required("file"));
  if (format == "csv") {
    const auto c = profiler::export_csv(reader, run, out);
    std::fprintf(stderr, "wrote %lld CSV files (%lld rows) to %s\n", static_cast<long long>(c.files),
                 static_cast<long long>(c.rows), out.c_str());
    return 0;
  }
  // Build once, write once: the summary counts what the file holds.
  const profiler::Trace trace = profiler::session_trace(reader, run);
  if (format == "perfetto")
    profiler::write_perfetto_file(trace, out);
  else
    profiler::write_chrome_json_file(trace, out);
  std::fprintf(stderr, "wrote %s trace %s: %s\n", format.c_str(), out.c_str(), trace_summary(trace).c_str());
  return 0;
}

}  // namespace mnemo::cli

// Exports a session for tools outside Mnemoscope: as a trace (the schema-independent model of
// trace_model.h, written as Perfetto protobuf or Chrome JSON) or as CSV files, one per public view.
//
// Trace layout (docs/SESSION_FORMAT.md, "Exports"): one process track per run (pid = run id);
// under it one thread track per recorded op thread carrying nested slices step → layer → op, and
// counter tracks for the run's _counter series and its KV occupancy per step. Times are
// nanoseconds from the earliest time in the session (session_origin_ns).
//
// `run` selects one run; empty means every run. An unknown run throws Error naming the session
// file and the run; a failed write throws Error naming the output path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/profiler/trace_model.h"

namespace mnemo::profiler {

// The earliest time recorded anywhere in the session (runs, steps, ops, kernels, counters): the
// zero of exported traces. 0 for a session with no times at all.
int64_t session_origin_ns(const SessionReader& reader);

Trace session_trace(const SessionReader& reader, std::optional<int64_t> run);

void export_perfetto(const SessionReader& reader, std::optional<int64_t> run, const std::string& out);
void export_chrome(const SessionReader& reader, std::optional<int64_t> run, const std::string& out);

struct CsvExportCounts {
  int64_t files = 0;
  int64_t rows = 0;  // data rows over all files
};

// One CSV per public view, <view>.csv in out_dir: run, step, token, attention_head, head_metric,
// kv_occupancy, op, kernel, counter (header = the view's columns, RFC 4180 quoting, BLOBs as UTF-8 text with
// invalid bytes replaced by U+FFFD, REAL as %.17g). Creates out_dir if missing; throws UsageError
// when out_dir exists and is not a directory.
CsvExportCounts export_csv(const SessionReader& reader, std::optional<int64_t> run, const std::string& out_dir);

}  // namespace mnemo::profiler

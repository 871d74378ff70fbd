// The trace every export test writes: a process with two thread tracks (run → step → layer → op
// slices on "main", ops on a worker), a child track without pid/tid, two counter tracks, args of
// every type, a flow across threads, and names with quotes, backslashes, control characters and
// non-ASCII text.
#pragma once

#include <nlohmann/json.hpp>

#include "mnemo/profiler/trace_model.h"

namespace mnemo::profiler::testing {

Trace sample_trace();

// The model itself as JSON (tracks, slices, counters, metadata), written without either writer:
// what an independent decoder must find in the exported files.
nlohmann::json model_as_json(const Trace& trace);

}  // namespace mnemo::profiler::testing

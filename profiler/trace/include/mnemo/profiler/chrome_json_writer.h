// Writes a Trace in the Chrome Trace Event JSON format (chrome://tracing, ui.perfetto.dev):
// {"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {metadata}}. Slices become "X"
// events (ts and dur in microseconds), counter samples "C" events, track names "M" events
// (process_name / thread_name), flow ids "s"/"t"/"f" events. Output is streamed event by event.
//
// Chrome JSON has no track tree: a slice track with a tid is that thread; one without gets a
// synthetic tid above every real one. A track's pid is its own or its nearest ancestor's, else
// kDefaultPid.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "mnemo/profiler/trace_model.h"

namespace mnemo::profiler {

inline constexpr std::int32_t kDefaultPid = 1;

// Validates the trace first (TraceError, nothing written); throws Error when the stream fails.
void write_chrome_json(const Trace& trace, std::ostream& out);
void write_chrome_json_file(const Trace& trace, const std::string& path);

}  // namespace mnemo::profiler

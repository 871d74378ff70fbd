// What the trace and CSV exports share.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "mnemo/profiler/session/session_reader.h"

namespace mnemo::profiler {

// Name of the counter track holding the KV bytes used over all layers after each step.
inline constexpr const char* kKvOccupancyCounter = "kv_occupancy_bytes";

// The ids of the runs to export: all of them, or the one asked for. Throws Error naming the
// session file and the run (and the runs it does hold) for an unknown id.
std::vector<int64_t> selected_run_ids(const SessionReader& reader, std::optional<int64_t> run);

}  // namespace mnemo::profiler

// Writes a Trace as a Perfetto protobuf trace (a `perfetto.protos.Trace` message: a sequence of
// TracePackets), the format ui.perfetto.dev and trace_processor open. Tracks become
// TrackDescriptors, slices TYPE_SLICE_BEGIN/END pairs, counter samples TYPE_COUNTER events, all
// on one packet sequence in time order. Output is streamed packet by packet.
#pragma once

#include <iosfwd>
#include <string>

#include "mnemo/profiler/trace_model.h"

namespace mnemo::profiler {

// Validates the trace first (TraceError, nothing written); throws Error when the stream fails.
void write_perfetto(const Trace& trace, std::ostream& out);
void write_perfetto_file(const Trace& trace, const std::string& path);

}  // namespace mnemo::profiler

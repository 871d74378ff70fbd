// Field numbers come from Perfetto's protos (protos/perfetto/trace/...); each use names its
// message and field. Everything goes on one packet sequence with plain (non-interned) strings.
#include "mnemo/profiler/perfetto_writer.h"

#include <algorithm>
#include <fstream>
#include <ostream>

#include "proto_encoder.h"

namespace mnemo::profiler {
namespace {

constexpr std::uint32_t kSequenceId = 1;  // any non-zero id; one writer, one sequence

// TrackEvent.Type (track_event.proto)
enum : std::uint64_t { kSliceBegin = 1, kSliceEnd = 2, kInstant = 3, kCounter = 4 };

class PacketStream {
 public:
  explicit PacketStream(std::ostream& out) : out_(out) {}

  // Starts a TracePacket with the fields every packet carries.
  proto::Message& begin(std::optional<std::int64_t> timestamp_ns) {
    packet_.clear();
    if (timestamp_ns) packet_.varint(8, static_cast<std::uint64_t>(*timestamp_ns));  // TracePacket.timestamp
    packet_.varint(10, kSequenceId);  // TracePacket.trusted_packet_sequence_id
    if (first_) {
      packet_.varint(13, 1);  // TracePacket.sequence_flags = SEQ_INCREMENTAL_STATE_CLEARED
      first_ = false;
    }
    return packet_;
  }

  // Appends the packet as one `Trace.packet` (trace.proto, field 1) entry.
  void end() {
    proto::Message header;
    header.raw_varint((std::uint64_t{1} << 3) | proto::kLengthDelimited);  // Trace.packet
    header.raw_varint(packet_.data().size());
    out_.write(header.data().data(), static_cast<std::streamsize>(header.data().size()));
    out_.write(packet_.data().data(), static_cast<std::streamsize>(packet_.data().size()));
    if (!out_) throw Error("perfetto writer: output stream failed");
  }

 private:
  std::ostream& out_;
  proto::Message packet_;
  bool first_ = true;
};

proto::Message debug_annotation(const Arg& arg) {
  proto::Message a;
  a.bytes(10, arg.key);  // DebugAnnotation.name
  if (const auto* i = std::get_if<std::int64_t>(&arg.value))
    a.int64(4, *i);  // DebugAnnotation.int_value
  else if (const auto* d = std::get_if<double>(&arg.value))
    a.double_(5, *d);  // DebugAnnotation.double_value
  else
    a.bytes(6, std::get<std::string>(arg.value));  // DebugAnnotation.string_value
  return a;
}

void write_track_descriptor(PacketStream& stream, const Track& track) {
  proto::Message desc;
  desc.varint(1, track.id);                           // TrackDescriptor.uuid
  if (track.parent) desc.varint(5, *track.parent);    // TrackDescriptor.parent_uuid
  desc.bytes(2, track.name);                          // TrackDescriptor.name
  if (track.tid) {
    proto::Message thread;
    thread.int64(1, *track.pid);      // ThreadDescriptor.pid
    thread.int64(2, *track.tid);      // ThreadDescriptor.tid
    thread.bytes(5, track.name);      // ThreadDescriptor.thread_name
    desc.message(4, thread);          // TrackDescriptor.thread
  } else if (track.pid) {
    proto::Message process;
    process.int64(1, *track.pid);     // ProcessDescriptor.pid
    process.bytes(6, track.name);     // ProcessDescriptor.process_name
    desc.message(3, process);         // TrackDescriptor.process
  }
  if (track.kind == TrackKind::kCounter) desc.message(8, proto::Message{});  // TrackDescriptor.counter
  stream.begin(std::nullopt).message(60, desc);  // TracePacket.track_descriptor
  stream.end();
}

// One entry of the merged timeline: a slice's begin or end, or a counter sample.
struct Event {
  std::int64_t t_ns;
  std::uint64_t type;
  std::size_t index;  // into slices() or counters()
};

// Per track, slices in drawing order produce BEGIN/END in a properly nested order with
// non-decreasing times; a stable sort by time then merges the tracks without reordering any.
std::vector<Event> timeline(const Trace& trace) {
  const auto& slices = trace.slices();
  const std::vector<std::size_t> order = trace.slice_order();
  std::vector<Event> events;
  events.reserve(2 * slices.size() + trace.counters().size());
  std::vector<std::size_t> open;
  auto close_all = [&] {
    while (!open.empty()) {
      events.push_back({slices[open.back()].end_ns, kSliceEnd, open.back()});
      open.pop_back();
    }
  };
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Slice& s = slices[order[k]];
    if (k > 0 && slices[order[k - 1]].track != s.track) close_all();
    while (!open.empty() && !slice_contains(slices[open.back()], s)) {
      events.push_back({slices[open.back()].end_ns, kSliceEnd, open.back()});
      open.pop_back();
    }
    events.push_back({s.start_ns, kSliceBegin, order[k]});
    open.push_back(order[k]);
  }
  close_all();
  for (std::size_t i = 0; i < trace.counters().size(); ++i)
    events.push_back({trace.counters()[i].t_ns, kCounter, i});
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.t_ns < b.t_ns; });
  return events;
}

}  // namespace

void write_perfetto(const Trace& trace, std::ostream& out) {
  const std::vector<Event> events = timeline(trace);  // validates before anything is written
  PacketStream stream(out);
  for (const Track& track : trace.tracks()) write_track_descriptor(stream, track);

  if (!trace.metadata().empty()) {
    // Perfetto has no free-form trace metadata for track events: an instant event on the global
    // track (uuid 0, the default when track_uuid is absent) carries it as debug annotations.
    proto::Message ev;
    ev.varint(9, kInstant);          // TrackEvent.type
    ev.bytes(23, "trace metadata");  // TrackEvent.name
    for (const Arg& a : trace.metadata()) ev.message(4, debug_annotation(a));  // TrackEvent.debug_annotations
    stream.begin(events.empty() ? 0 : events.front().t_ns).message(11, ev);  // TracePacket.track_event
    stream.end();
  }

  proto::Message ev;
  for (const Event& e : events) {
    ev.clear();
    ev.varint(9, e.type);  // TrackEvent.type
    if (e.type == kCounter) {
      const CounterSample& c = trace.counters()[e.index];
      ev.varint(11, c.track);      // TrackEvent.track_uuid
      ev.double_(44, c.value);     // TrackEvent.double_counter_value
    } else {
      const Slice& s = trace.slices()[e.index];
      ev.varint(11, s.track);  // TrackEvent.track_uuid
      if (e.type == kSliceBegin) {
        if (!s.category.empty()) ev.bytes(22, s.category);  // TrackEvent.categories
        ev.bytes(23, s.name);                               // TrackEvent.name
        for (const Arg& a : s.args) ev.message(4, debug_annotation(a));  // TrackEvent.debug_annotations
        if (s.flow_id) ev.fixed64(47, *s.flow_id);  // TrackEvent.flow_ids (repeated fixed64)
      }
    }
    stream.begin(e.t_ns).message(11, ev);  // TracePacket.track_event
    stream.end();
  }
  out.flush();
  if (!out) throw Error("perfetto writer: output stream failed");
}

void write_perfetto_file(const Trace& trace, const std::string& path) {
  trace.validate();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path + ": cannot open for writing");
  try {
    write_perfetto(trace, out);
  } catch (const TraceError&) {
    throw;
  } catch (const Error&) {
    throw Error(path + ": write failed");
  }
}

}  // namespace mnemo::profiler

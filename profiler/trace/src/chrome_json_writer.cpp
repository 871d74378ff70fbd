#include "mnemo/profiler/chrome_json_writer.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

namespace mnemo::profiler {
namespace {

std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

// Nanoseconds as an exact decimal number of microseconds ("1.5", "1.234", "7.0"): no binary
// rounding happens here, only in the reader.
std::string micros(std::int64_t ns) {
  std::string frac = std::to_string(ns % 1000);
  frac.insert(0, 3 - frac.size(), '0');
  while (frac.size() > 1 && frac.back() == '0') frac.pop_back();
  return std::to_string(ns / 1000) + "." + frac;
}

nlohmann::json arg_value(const ArgValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::get<std::string>(v);
}

nlohmann::json args_object(const std::vector<Arg>& args) {
  nlohmann::json o = nlohmann::json::object();
  for (const Arg& a : args) o[a.key] = arg_value(a.value);
  return o;
}

// Where each track lands in Chrome's pid/tid world.
struct Placement {
  std::int32_t pid;
  std::int64_t tid;  // slice tracks only
};

std::vector<Placement> place_tracks(const Trace& trace) {
  const auto& tracks = trace.tracks();
  std::int64_t next_tid = 0;
  for (const Track& t : tracks)
    if (t.tid) next_tid = std::max<std::int64_t>(next_tid, *t.tid);
  ++next_tid;
  std::vector<Placement> placed(tracks.size());
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    const Track& t = tracks[i];
    // Parents come first, so a parent's pid is already resolved.
    placed[i].pid = t.pid ? *t.pid : t.parent ? placed[trace.track_index(*t.parent)].pid : kDefaultPid;
    if (t.kind == TrackKind::kSlice) placed[i].tid = t.tid ? *t.tid : next_tid++;
  }
  return placed;
}

class EventStream {
 public:
  explicit EventStream(std::ostream& out) : out_(out) {}
  void add(const std::string& event) {
    out_ << (first_ ? "\n" : ",\n") << event;
    first_ = false;
    if (!out_) throw Error("chrome json writer: output stream failed");
  }

 private:
  std::ostream& out_;
  bool first_ = true;
};

std::string where(const Placement& p) {
  return "\"pid\":" + std::to_string(p.pid) + ",\"tid\":" + std::to_string(p.tid);
}

void write_flows(const Trace& trace, const std::vector<std::size_t>& order,
                 const std::vector<Placement>& placed, EventStream& events) {
  std::map<std::uint64_t, std::vector<std::size_t>> flows;  // id -> slices, by start time
  for (std::size_t i : order)
    if (trace.slices()[i].flow_id) flows[*trace.slices()[i].flow_id].push_back(i);
  for (auto& [id, members] : flows) {
    if (members.size() < 2) continue;  // a flow needs two ends
    std::stable_sort(members.begin(), members.end(), [&](std::size_t a, std::size_t b) {
      return trace.slices()[a].start_ns < trace.slices()[b].start_ns;
    });
    for (std::size_t k = 0; k < members.size(); ++k) {
      const Slice& s = trace.slices()[members[k]];
      const char* ph = k == 0 ? "s" : k + 1 == members.size() ? "f" : "t";
      events.add(std::string("{\"ph\":\"") + ph + "\",\"id\":" + std::to_string(id) +
                 ",\"name\":\"flow\",\"cat\":" + quoted(s.category.empty() ? "flow" : s.category) +
                 ",\"ts\":" + micros(s.start_ns) + "," + where(placed[trace.track_index(s.track)]) +
                 ",\"bp\":\"e\"}");
    }
  }
}

}  // namespace

void write_chrome_json(const Trace& trace, std::ostream& out) {
  const std::vector<std::size_t> order = trace.slice_order();  // validates before writing
  const std::vector<Placement> placed = place_tracks(trace);
  out << "{\"displayTimeUnit\":\"ns\",\"otherData\":" << args_object(trace.metadata()).dump()
      << ",\"traceEvents\":[";
  EventStream events(out);

  for (std::size_t i = 0; i < trace.tracks().size(); ++i) {
    const Track& t = trace.tracks()[i];
    const std::string name_args = "\"args\":{\"name\":" + quoted(t.name) + "}}";
    if (t.pid && !t.tid)
      events.add("{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(*t.pid) + "," +
                 name_args);
    if (t.kind == TrackKind::kSlice)
      events.add("{\"ph\":\"M\",\"name\":\"thread_name\"," + where(placed[i]) + "," + name_args);
  }

  for (std::size_t i : order) {
    const Slice& s = trace.slices()[i];
    std::string e = "{\"ph\":\"X\",\"name\":" + quoted(s.name) + ",\"cat\":" + quoted(s.category) +
                    ",\"ts\":" + micros(s.start_ns) + ",\"dur\":" + micros(s.end_ns - s.start_ns) +
                    "," + where(placed[trace.track_index(s.track)]);
    if (!s.args.empty()) e += ",\"args\":" + args_object(s.args).dump();
    events.add(e + "}");
  }

  for (const CounterSample& c : trace.counters()) {
    const std::size_t ti = trace.track_index(c.track);
    events.add("{\"ph\":\"C\",\"name\":" + quoted(trace.tracks()[ti].name) + ",\"ts\":" + micros(c.t_ns) +
               ",\"pid\":" + std::to_string(placed[ti].pid) + ",\"args\":{\"value\":" +
               nlohmann::json(c.value).dump() + "}}");
  }

  write_flows(trace, order, placed, events);
  out << "\n]}\n";
  out.flush();
  if (!out) throw Error("chrome json writer: output stream failed");
}

void write_chrome_json_file(const Trace& trace, const std::string& path) {
  trace.validate();
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw Error(path + ": cannot open for writing");
  try {
    write_chrome_json(trace, out);
  } catch (const TraceError&) {
    throw;
  } catch (const Error&) {
    throw Error(path + ": write failed");
  }
}

}  // namespace mnemo::profiler

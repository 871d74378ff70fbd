// A session as a Trace: process track per run, thread tracks with nested step → layer → op
// slices, counter tracks; then the Perfetto and Chrome JSON writers of mnemo_trace.
#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "export_common.h"
#include "mnemo/core/error.h"
#include "mnemo/profiler/chrome_json_writer.h"
#include "mnemo/profiler/export/session_export.h"
#include "mnemo/profiler/perfetto_writer.h"

namespace mnemo::profiler {

int64_t session_origin_ns(const SessionReader& reader) {
  // Every table with a time the trace may show; min() skips empty tables (NULL).
  Stmt s = reader.db().prepare(
      "SELECT min(t) FROM (SELECT min(start_ns) AS t FROM _run UNION ALL SELECT min(start_ns) FROM _step "
      "UNION ALL SELECT min(start_ns) FROM _op UNION ALL SELECT min(start_ns) FROM _kernel "
      "UNION ALL SELECT min(t_ns) FROM _counter)");
  return s.step() && !s.is_null(0) ? s.integer(0) : 0;
}

namespace {

// Builds one trace: hands out track ids and remembers which tids are taken, since the trace
// model allows one track per tid across the whole trace and two runs may share an OS thread id.
class TraceBuilder {
 public:
  TraceBuilder(const SessionReader& reader, int64_t origin) : reader_(reader), origin_(origin) {}

  void add_run(const RunSummary& run);
  Trace take() { return std::move(trace_); }
  Trace& trace() { return trace_; }

 private:
  struct Interval {
    int64_t start = 0, end = 0;
  };

  TrackId add_track(Track t) {
    t.id = next_id_++;
    trace_.add_track(t);
    return t.id;
  }
  int32_t free_tid(int64_t thread);
  int64_t rel(int64_t t_ns) const { return t_ns - origin_; }
  void add_thread_slices(TrackId track, const std::vector<StepRecord>& steps, const std::vector<const OpRow*>& ops,
                         bool with_idle_steps);
  void add_step_only_track(TrackId process, const std::vector<StepRecord>& steps);
  void add_counters(TrackId process, int64_t run_id, const std::vector<StepRecord>& steps);
  void add_counter_track(TrackId process, const std::string& name, const std::vector<std::pair<int64_t, double>>& samples);

  const SessionReader& reader_;
  int64_t origin_;
  Trace trace_;
  TrackId next_id_ = 1;
  std::set<int32_t> used_tids_;
  int32_t next_synthetic_tid_ = std::numeric_limits<int32_t>::max();
};

std::string model_file_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string process_name(const RunSummary& r) {
  const std::string who = r.info.label.empty() ? model_file_name(r.info.model_path) : r.info.label;
  // Labels, paths and names are stored as given; a trace takes UTF-8 only.
  return valid_utf8_or_replaced("run " + std::to_string(r.id) + ": " + who + " (" + r.info.architecture + ")");
}

int32_t checked_int32(int64_t v, const std::string& what) {
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
    throw Error(what + " " + std::to_string(v) + " does not fit a trace's 32-bit pid/tid");
  return static_cast<int32_t>(v);
}

std::string step_name(const StepRecord& s) {
  return s.kind == "decode" ? "decode " + std::to_string(s.step) : s.kind;
}

// Shrinks `s` into its parent's [start, end]: a slice whose recorded times stray outside its
// parent's would otherwise break the nesting the trace requires.
void clamp_into(Slice& s, int64_t start, int64_t end) {
  s.start_ns = std::clamp(s.start_ns, start, end);
  s.end_ns = std::clamp(s.end_ns, s.start_ns, end);
}

// Safety net for one track's slices, in the order they will be added (parents before children):
// any slice that still partially overlaps an enclosing one (ops of interleaved layers, say) is
// cut at that slice's end, which makes the whole set nest as Trace::validate() demands.
void nest_by_clamping(std::vector<Slice>& slices) {
  std::vector<size_t> order(slices.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (slices[a].start_ns != slices[b].start_ns) return slices[a].start_ns < slices[b].start_ns;
    return slices[a].end_ns > slices[b].end_ns;
  });
  std::vector<size_t> open;
  for (size_t i : order) {
    Slice& s = slices[i];
    while (!open.empty() && !slice_contains(slices[open.back()], s)) {
      const Slice& top = slices[open.back()];
      if (s.start_ns < top.end_ns) {
        s.end_ns = top.end_ns;
        break;
      }
      open.pop_back();
    }
    open.push_back(i);
  }
}

Slice make_step_slice(TrackId track, const StepRecord& s, int64_t start, int64_t end) {
  return {.track = track,
          .name = step_name(s),
          .category = "step",
          .start_ns = start,
          .end_ns = end,
          .args = {{"step", s.step}, {"pos0", s.pos0}, {"n_tokens", s.n_tokens}},
          .flow_id = {}};
}

}  // namespace

int32_t TraceBuilder::free_tid(int64_t thread) {
  int32_t tid = checked_int32(thread, reader_.path() + ": thread id");
  if (used_tids_.count(tid))
    while (used_tids_.count(tid = next_synthetic_tid_--)) {}
  used_tids_.insert(tid);
  return tid;
}

// The nested slices of one thread: for each step the thread ran ops in (and, on the run's first
// thread, every step without ops too), the step, its layers and its ops.
void TraceBuilder::add_thread_slices(TrackId track, const std::vector<StepRecord>& steps,
                                     const std::vector<const OpRow*>& ops, bool with_idle_steps) {
  std::map<int64_t, std::vector<const OpRow*>> by_step;
  for (const OpRow* o : ops) by_step[o->step].push_back(o);
  std::map<int64_t, const StepRecord*> step_of;
  for (const StepRecord& s : steps) step_of[s.step] = &s;

  std::vector<Slice> out;
  auto add_step = [&](const StepRecord& s, const std::vector<const OpRow*>& step_ops) {
    const int64_t p0 = rel(s.start_ns), p1 = rel(std::max(s.start_ns, s.end_ns));
    out.push_back(make_step_slice(track, s, p0, p1));
    std::map<int32_t, Interval> layer_span;
    for (const OpRow* o : step_ops) {
      if (o->layer < 0) continue;
      auto [it, fresh] = layer_span.try_emplace(o->layer, Interval{rel(o->start_ns), rel(o->end_ns)});
      if (!fresh) it->second = {std::min(it->second.start, rel(o->start_ns)), std::max(it->second.end, rel(o->end_ns))};
    }
    std::map<int32_t, Interval> clamped;
    for (const auto& [layer, span] : layer_span) {
      Slice l{.track = track, .name = "layer " + std::to_string(layer), .category = "layer",
              .start_ns = span.start, .end_ns = span.end, .args = {{"step", s.step}, {"layer", int64_t{layer}}}, .flow_id = {}};
      clamp_into(l, p0, p1);
      clamped[layer] = {l.start_ns, l.end_ns};
      out.push_back(std::move(l));
    }
    for (const OpRow* o : step_ops) {
      Slice op{.track = track, .name = o->kind, .category = "op", .start_ns = rel(o->start_ns),
               .end_ns = rel(o->end_ns),
               .args = {{"layer", int64_t{o->layer}}, {"head", int64_t{o->head}}, {"op_id", o->op_id}}, .flow_id = {}};
      const Interval box = o->layer < 0 ? Interval{p0, p1} : clamped.at(o->layer);
      clamp_into(op, box.start, box.end);
      out.push_back(std::move(op));
    }
  };

  for (const auto& [step, step_ops] : by_step) {
    if (auto it = step_of.find(step); it != step_of.end()) {
      add_step(*it->second, step_ops);
      continue;
    }
    // Ops of a step whose row was never committed (a crashed run): a step slice spanning them.
    StepRecord synthetic{.step = step, .kind = "step " + std::to_string(step), .pos0 = 0, .n_tokens = 0,
                         .start_ns = step_ops.front()->start_ns, .end_ns = step_ops.front()->end_ns};
    for (const OpRow* o : step_ops)
      synthetic.start_ns = std::min(synthetic.start_ns, o->start_ns), synthetic.end_ns = std::max(synthetic.end_ns, o->end_ns);
    add_step(synthetic, step_ops);
  }
  if (with_idle_steps)
    for (const StepRecord& s : steps)
      if (!by_step.count(s.step)) add_step(s, {});

  nest_by_clamping(out);
  for (Slice& s : out) trace_.add_slice(std::move(s));
}

void TraceBuilder::add_step_only_track(TrackId process, const std::vector<StepRecord>& steps) {
  const TrackId track = add_track({.id = 0, .parent = process, .name = "steps", .kind = TrackKind::kSlice, .pid = {}, .tid = {}});
  std::vector<Slice> out;
  for (const StepRecord& s : steps) out.push_back(make_step_slice(track, s, rel(s.start_ns), rel(std::max(s.start_ns, s.end_ns))));
  nest_by_clamping(out);
  for (Slice& s : out) trace_.add_slice(std::move(s));
}

void TraceBuilder::add_counter_track(TrackId process, const std::string& name,
                                     const std::vector<std::pair<int64_t, double>>& samples) {
  const TrackId track = add_track({.id = 0, .parent = process, .name = name, .kind = TrackKind::kCounter, .pid = {}, .tid = {}});
  for (const auto& [t, v] : samples) trace_.add_counter({.track = track, .t_ns = rel(t), .value = v});
}

// The run's _counter series (kv_bytes, tokens_per_s, ...) and its KV occupancy: the bytes used
// over all layers after each step, sampled at the step's end.
void TraceBuilder::add_counters(TrackId process, int64_t run_id, const std::vector<StepRecord>& steps) {
  std::map<std::string, std::vector<std::pair<int64_t, double>>> series;
  for (const CounterRecord& c : reader_.counters(run_id)) series[c.name].emplace_back(c.t_ns, c.value);
  for (const auto& [name, samples] : series) add_counter_track(process, name, samples);

  std::map<int64_t, int64_t> bytes_at_step;
  for (const KvRecord& k : reader_.kv(run_id)) bytes_at_step[k.step] += k.bytes_used;
  std::vector<std::pair<int64_t, double>> occupancy;
  for (const StepRecord& s : steps)
    if (auto it = bytes_at_step.find(s.step); it != bytes_at_step.end())
      occupancy.emplace_back(s.end_ns, static_cast<double>(it->second));
  if (!occupancy.empty()) add_counter_track(process, kKvOccupancyCounter, occupancy);
}

void TraceBuilder::add_run(const RunSummary& run) {
  const int32_t pid = checked_int32(run.id, reader_.path() + ": run id");
  const TrackId process =
      add_track({.id = 0, .parent = {}, .name = process_name(run), .kind = TrackKind::kSlice, .pid = pid, .tid = {}});
  const std::vector<StepRecord> steps = reader_.steps(run.id);
  const std::vector<OpRow> ops =
      reader_.ops(run.id, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), -1);

  std::map<int64_t, std::vector<const OpRow*>> by_thread;
  for (const OpRow& o : ops) by_thread[o.thread].push_back(&o);
  bool first = true;
  for (const auto& [thread, thread_ops] : by_thread) {
    const TrackId track = add_track({.id = 0, .parent = process, .name = "thread " + std::to_string(thread),
                                     .kind = TrackKind::kSlice, .pid = pid, .tid = free_tid(thread)});
    add_thread_slices(track, steps, thread_ops, first);
    first = false;
  }
  if (by_thread.empty() && !steps.empty()) add_step_only_track(process, steps);
  add_counters(process, run.id, steps);
}

std::vector<int64_t> selected_run_ids(const SessionReader& reader, std::optional<int64_t> run) {
  std::vector<int64_t> all;
  Stmt s = reader.db().prepare("SELECT run_id FROM _run ORDER BY run_id");
  while (s.step()) all.push_back(s.integer(0));
  if (!run) return all;
  if (std::find(all.begin(), all.end(), *run) != all.end()) return {*run};
  std::string ids;
  for (int64_t id : all) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
  throw Error(reader.path() + ": no run " + std::to_string(*run) + " (the session holds " +
              (ids.empty() ? std::string("no runs") : "runs " + ids) + ")");
}

Trace session_trace(const SessionReader& reader, std::optional<int64_t> run) {
  const std::vector<int64_t> runs = selected_run_ids(reader, run);
  const int64_t origin = session_origin_ns(reader);
  TraceBuilder b(reader, origin);
  for (int64_t id : runs) b.add_run(reader.run(id));
  Trace& t = b.trace();
  t.set_metadata("session", valid_utf8_or_replaced(reader.path()));
  t.set_metadata("schema_version", reader.schema_version());
  t.set_metadata("origin_ns", origin);  // add it to a timestamp to get the session's clock back
  return b.take();
}

void export_perfetto(const SessionReader& reader, std::optional<int64_t> run, const std::string& out) {
  write_perfetto_file(session_trace(reader, run), out);
}

void export_chrome(const SessionReader& reader, std::optional<int64_t> run, const std::string& out) {
  write_chrome_json_file(session_trace(reader, run), out);
}

}  // namespace mnemo::profiler

#include "sample_trace.h"

namespace mnemo::profiler::testing {

Trace sample_trace() {
  Trace t;
  t.add_track({.id = 1, .name = "mnemo \"run\" ✓", .kind = TrackKind::kSlice, .pid = 4242});
  t.add_track({.id = 2, .parent = 1, .name = "main", .pid = 4242, .tid = 4242});
  t.add_track({.id = 3, .parent = 1, .name = "worker 1", .pid = 4242, .tid = 4250});
  t.add_track({.id = 4, .parent = 1, .name = "KV cache bytes", .kind = TrackKind::kCounter});
  t.add_track({.id = 5, .parent = 1, .name = "tokens/s", .kind = TrackKind::kCounter});
  t.add_track({.id = 6, .parent = 1, .name = "scheduler\\queue\t«ü»"});

  t.add_slice({.track = 2, .name = "run", .category = "run", .start_ns = 1'000, .end_ns = 901'000,
               .args = {{"model", std::string("SmolLM2 \"135M\"")}, {"tokens", std::int64_t{3}}}});
  for (int step = 0; step < 2; ++step) {
    const std::int64_t s0 = 2'000 + step * 450'000;
    t.add_slice({.track = 2, .name = "step " + std::to_string(step), .category = "step", .start_ns = s0,
                 .end_ns = s0 + 400'000, .args = {{"step", std::int64_t{step}}}});
    for (int layer = 0; layer < 2; ++layer) {
      const std::int64_t l0 = s0 + 10'000 + layer * 190'000;
      t.add_slice({.track = 2, .name = "layer " + std::to_string(layer), .category = "layer",
                   .start_ns = l0, .end_ns = l0 + 180'000,
                   .args = {{"layer", std::int64_t{layer}}}});
      t.add_slice({.track = 2, .name = "matmul", .category = "op", .start_ns = l0,
                   .end_ns = l0 + 100'000, .args = {{"gflops", 12.5}, {"shape", std::string("[1, 576]")}}});
      // Starts exactly where matmul ends: a sibling, not a child.
      t.add_slice({.track = 2, .name = "attention ∑ \"q·k\"", .category = "op", .start_ns = l0 + 100'000,
                   .end_ns = l0 + 180'000, .flow_id = step == 0 && layer == 0 ? std::optional<std::uint64_t>(77) : std::nullopt});
    }
  }
  t.add_slice({.track = 2, .name = "instant-ish", .category = "op", .start_ns = 899'999, .end_ns = 899'999});
  t.add_slice({.track = 3, .name = "matmul shard", .category = "op", .start_ns = 15'000, .end_ns = 95'123,
               .args = {{"rows", std::int64_t{-288}}}, .flow_id = 77});
  t.add_slice({.track = 3, .name = "matmul shard", .category = "op", .start_ns = 465'000, .end_ns = 555'000});
  t.add_slice({.track = 6, .name = "enqueue\n\"step\"", .category = "", .start_ns = 1'500, .end_ns = 2'000});

  for (int i = 0; i <= 4; ++i) {
    t.add_counter({.track = 4, .t_ns = 1'000 + i * 200'000, .value = 4096.0 * (i + 1)});
    t.add_counter({.track = 5, .t_ns = 1'500 + i * 200'000, .value = 0.5 + 31.25 * i});
  }
  t.set_metadata("model", std::string("smollm2-135m ✓"));
  t.set_metadata("threads", std::int64_t{8});
  t.set_metadata("clock", std::string("steady"));
  return t;
}

namespace {
nlohmann::json value_json(const ArgValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::get<std::string>(v);
}
nlohmann::json args_json(const std::vector<Arg>& args) {
  nlohmann::json o = nlohmann::json::object();
  for (const Arg& a : args) o[a.key] = value_json(a.value);
  return o;
}
}  // namespace

nlohmann::json model_as_json(const Trace& trace) {
  nlohmann::json j;
  j["tracks"] = nlohmann::json::array();
  for (const Track& t : trace.tracks()) {
    nlohmann::json o{{"id", t.id}, {"name", t.name}, {"counter", t.kind == TrackKind::kCounter}};
    o["parent"] = t.parent ? nlohmann::json(*t.parent) : nlohmann::json(nullptr);
    o["pid"] = t.pid ? nlohmann::json(*t.pid) : nlohmann::json(nullptr);
    o["tid"] = t.tid ? nlohmann::json(*t.tid) : nlohmann::json(nullptr);
    j["tracks"].push_back(o);
  }
  j["slices"] = nlohmann::json::array();
  for (const Slice& s : trace.slices()) {
    nlohmann::json o{{"track", s.track}, {"name", s.name},       {"category", s.category},
                     {"start_ns", s.start_ns}, {"end_ns", s.end_ns}, {"args", args_json(s.args)}};
    o["flow_id"] = s.flow_id ? nlohmann::json(*s.flow_id) : nlohmann::json(nullptr);
    j["slices"].push_back(o);
  }
  j["counters"] = nlohmann::json::array();
  for (const CounterSample& c : trace.counters())
    j["counters"].push_back({{"track", c.track}, {"t_ns", c.t_ns}, {"value", c.value}});
  j["metadata"] = args_json(trace.metadata());
  return j;
}

}  // namespace mnemo::profiler::testing

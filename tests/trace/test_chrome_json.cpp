// Writes the sample trace as Chrome JSON, parses it back with nlohmann::json and checks every
// event against the model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "mnemo/profiler/chrome_json_writer.h"
#include "sample_trace.h"

namespace mp = mnemo::profiler;
using nlohmann::json;

namespace {

json args_of(const mp::Slice& s) {
  json o = json::object();
  for (const mp::Arg& a : s.args) {
    if (const auto* i = std::get_if<std::int64_t>(&a.value)) o[a.key] = *i;
    else if (const auto* d = std::get_if<double>(&a.value)) o[a.key] = *d;
    else o[a.key] = std::get<std::string>(a.value);
  }
  return o;
}

json write_and_parse(const mp::Trace& trace) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("mnemo_trace_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                     "_" + std::to_string(reinterpret_cast<std::uintptr_t>(&trace)) + ".json");
  mp::write_chrome_json_file(trace, path.string());
  std::ifstream in(path);
  json j = json::parse(in);  // throws on malformed JSON or bad escapes
  std::filesystem::remove(path);
  return j;
}

}  // namespace

TEST(ChromeJson, EveryEventMatchesTheModel) {
  const mp::Trace trace = mp::testing::sample_trace();
  const json doc = write_and_parse(trace);

  EXPECT_EQ(doc.at("displayTimeUnit"), "ns");
  EXPECT_EQ(doc.at("otherData"),
            json({{"model", "smollm2-135m ✓"}, {"threads", 8}, {"clock", "steady"}}));

  // Where each slice track must land: real tids as given; tracks without one get synthetic tids
  // above all real ones in track order (the process track 1 takes 4251, track 6 4252), in their
  // parent's process.
  const std::map<mp::TrackId, std::pair<int, int>> place = {
      {2, {4242, 4242}}, {3, {4242, 4250}}, {6, {4242, 4252}}};

  std::multiset<std::string> want_x, got_x;
  for (const mp::Slice& s : trace.slices()) {
    const auto [pid, tid] = place.at(s.track);
    json e = {{"ph", "X"}, {"name", s.name}, {"cat", s.category},
              {"ts", s.start_ns / 1000.0}, {"dur", (s.end_ns - s.start_ns) / 1000.0},
              {"pid", pid}, {"tid", tid}};
    if (!s.args.empty()) e["args"] = args_of(s);
    want_x.insert(e.dump());
  }
  std::multiset<std::string> want_c, got_c;
  for (const mp::CounterSample& c : trace.counters())
    want_c.insert(json({{"ph", "C"}, {"name", trace.track(c.track).name}, {"ts", c.t_ns / 1000.0},
                        {"pid", 4242}, {"args", {{"value", c.value}}}})
                      .dump());
  std::map<int, double> last_ts_per_tid;
  std::vector<json> flows, meta;
  for (const json& e : doc.at("traceEvents")) {
    const std::string ph = e.at("ph");
    if (ph == "X") {
      json copy = e;
      // Compare times as doubles; the writer prints exact decimals.
      copy["ts"] = e.at("ts").get<double>();
      copy["dur"] = e.at("dur").get<double>();
      got_x.insert(copy.dump());
      const int tid = e.at("tid");
      EXPECT_GE(e.at("ts").get<double>(), last_ts_per_tid[tid]) << "X events of a thread in time order";
      last_ts_per_tid[tid] = e.at("ts").get<double>();
    } else if (ph == "C") {
      json copy = e;
      copy["ts"] = e.at("ts").get<double>();
      got_c.insert(copy.dump());
    } else if (ph == "M") {
      meta.push_back(e);
    } else if (ph == "s" || ph == "t" || ph == "f") {
      flows.push_back(e);
    } else {
      ADD_FAILURE() << "unexpected event " << e.dump();
    }
  }
  EXPECT_EQ(got_x, want_x);
  EXPECT_EQ(got_c, want_c);

  // Metadata: one process_name, one thread_name per slice track (the process track included,
  // on a synthetic tid).
  std::set<std::string> got_m;
  for (const json& e : meta) got_m.insert(e.dump());
  std::set<std::string> expect_m = {
      json({{"ph", "M"}, {"name", "process_name"}, {"pid", 4242}, {"args", {{"name", "mnemo \"run\" ✓"}}}}).dump(),
      json({{"ph", "M"}, {"name", "thread_name"}, {"pid", 4242}, {"tid", 4251}, {"args", {{"name", "mnemo \"run\" ✓"}}}}).dump(),
      json({{"ph", "M"}, {"name", "thread_name"}, {"pid", 4242}, {"tid", 4242}, {"args", {{"name", "main"}}}}).dump(),
      json({{"ph", "M"}, {"name", "thread_name"}, {"pid", 4242}, {"tid", 4250}, {"args", {{"name", "worker 1"}}}}).dump(),
      json({{"ph", "M"}, {"name", "thread_name"}, {"pid", 4242}, {"tid", 4252}, {"args", {{"name", "scheduler\\queue\t«ü»"}}}}).dump(),
  };
  EXPECT_EQ(got_m, expect_m);

  // Flow 77: starts at the worker's first shard (15 µs), ends at the first attention (112 µs).
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(flows[0].at("ph"), "s");
  EXPECT_EQ(flows[0].at("id"), 77);
  EXPECT_EQ(flows[0].at("tid"), 4250);
  EXPECT_DOUBLE_EQ(flows[0].at("ts").get<double>(), 15.0);
  EXPECT_EQ(flows[1].at("ph"), "f");
  EXPECT_EQ(flows[1].at("tid"), 4242);
  EXPECT_DOUBLE_EQ(flows[1].at("ts").get<double>(), 112.0);
  EXPECT_EQ(flows[1].at("bp"), "e");
}

TEST(ChromeJson, TimesAreExactDecimalMicroseconds) {
  mp::Trace t;
  t.add_track({.id = 1, .name = "t"});
  t.add_slice({.track = 1, .name = "a", .start_ns = 1'234'567'890'123'456'789, .end_ns = 1'234'567'890'123'457'789});
  t.add_slice({.track = 1, .name = "b", .start_ns = 7, .end_ns = 1007});
  std::ostringstream out;
  mp::write_chrome_json(t, out);
  const std::string s = out.str();
  EXPECT_NE(s.find("\"ts\":1234567890123456.789,\"dur\":1.0,"), std::string::npos) << s;
  EXPECT_NE(s.find("\"ts\":0.007,\"dur\":1.0,"), std::string::npos) << s;
  EXPECT_TRUE(json::parse(s).at("traceEvents").is_array());
}

TEST(ChromeJson, EmptyTraceIsValidJson) {
  std::ostringstream out;
  mp::write_chrome_json(mp::Trace{}, out);
  const json j = json::parse(out.str());
  EXPECT_TRUE(j.at("traceEvents").empty());
}

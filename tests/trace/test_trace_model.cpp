// The model's checks: every bad input is refused with a message naming the problem, and what
// was added before stays usable.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "mnemo/profiler/chrome_json_writer.h"
#include "mnemo/profiler/perfetto_writer.h"
#include "mnemo/profiler/trace_model.h"
#include "sample_trace.h"

namespace mp = mnemo::profiler;

namespace {

mp::Trace base() {
  mp::Trace t;
  t.add_track({.id = 1, .name = "proc", .pid = 10});
  t.add_track({.id = 2, .parent = 1, .name = "main", .pid = 10, .tid = 11});
  t.add_track({.id = 3, .parent = 1, .name = "bytes", .kind = mp::TrackKind::kCounter});
  t.add_slice({.track = 2, .name = "parent", .start_ns = 100, .end_ns = 200});
  return t;
}

struct BadCase {
  const char* what;
  std::function<void(mp::Trace&)> act;
  const char* message;  // must appear in the error
};

}  // namespace

TEST(TraceModel, BadInputsThrowClearErrors) {
  const BadCase cases[] = {
      {"slice on unknown track",
       [](mp::Trace& t) { t.add_slice({.track = 9, .name = "x", .start_ns = 0, .end_ns = 1}); },
       "slice 'x' [0, 1] ns: unknown track 9"},
      {"end before start",
       [](mp::Trace& t) { t.add_slice({.track = 2, .name = "x", .start_ns = 50, .end_ns = 40}); },
       "ends before it starts"},
      {"negative start",
       [](mp::Trace& t) { t.add_slice({.track = 2, .name = "x", .start_ns = -5, .end_ns = 40}); },
       "negative start time"},
      {"slice on counter track",
       [](mp::Trace& t) { t.add_slice({.track = 3, .name = "x", .start_ns = 0, .end_ns = 1}); },
       "is a counter track"},
      {"counter on slice track", [](mp::Trace& t) { t.add_counter({.track = 2, .t_ns = 0, .value = 1}); },
       "is not a counter track"},
      {"counter on unknown track", [](mp::Trace& t) { t.add_counter({.track = 7, .t_ns = 0, .value = 1}); },
       "unknown track 7"},
      {"non-finite counter",
       [](mp::Trace& t) { t.add_counter({.track = 3, .t_ns = 0, .value = std::nan("")}); },
       "value is not finite"},
      {"non-finite arg",
       [](mp::Trace& t) {
         t.add_slice({.track = 2, .name = "x", .start_ns = 0, .end_ns = 1, .args = {{"r", INFINITY}}});
       },
       "argument 'r' is not a finite number"},
      {"invalid UTF-8 name",
       [](mp::Trace& t) { t.add_slice({.track = 2, .name = "bad\xC3", .start_ns = 0, .end_ns = 1}); },
       "slice name is not valid UTF-8"},
      {"overlong UTF-8", [](mp::Trace& t) { t.add_track({.id = 8, .name = "\xC0\xAF"}); },
       "name is not valid UTF-8"},
      {"duplicate track id", [](mp::Trace& t) { t.add_track({.id = 2, .name = "again"}); },
       "id already used"},
      {"track id 0", [](mp::Trace& t) { t.add_track({.id = 0, .name = "zero"}); }, "id 0 is reserved"},
      {"unknown parent", [](mp::Trace& t) { t.add_track({.id = 8, .parent = 99, .name = "orphan"}); },
       "parent track 99 is unknown"},
      {"tid without pid", [](mp::Trace& t) { t.add_track({.id = 8, .name = "t", .tid = 5}); },
       "a tid needs a pid"},
      {"tid reused", [](mp::Trace& t) { t.add_track({.id = 8, .name = "t", .pid = 10, .tid = 11}); },
       "tid 11 already belongs to track 2"},
      {"second process track",
       [](mp::Trace& t) { t.add_track({.id = 8, .name = "p", .pid = 10}); },
       "pid 10 already has process track 1"},
      {"counter with pid",
       [](mp::Trace& t) { t.add_track({.id = 8, .name = "c", .kind = mp::TrackKind::kCounter, .pid = 3}); },
       "counter track takes its process from its parent"},
      {"child overlaps end of parent",
       [](mp::Trace& t) {
         t.add_slice({.track = 2, .name = "child", .start_ns = 150, .end_ns = 250});
         t.validate();
       },
       "track 2 'main': slice 'child' [150, 250] ns partially overlaps slice 'parent' [100, 200] ns"},
      {"slice overlaps start of another",
       [](mp::Trace& t) {
         t.add_slice({.track = 2, .name = "early", .start_ns = 50, .end_ns = 120});
         t.validate();
       },
       "slice 'parent' [100, 200] ns partially overlaps slice 'early' [50, 120] ns"},
      {"grandchild overlaps its parent",
       [](mp::Trace& t) {
         t.add_slice({.track = 2, .name = "child", .start_ns = 110, .end_ns = 150});
         t.add_slice({.track = 2, .name = "grandchild", .start_ns = 140, .end_ns = 160});
         t.validate();
       },
       "slice 'grandchild' [140, 160] ns partially overlaps slice 'child' [110, 150] ns"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    mp::Trace t = base();
    try {
      c.act(t);
      ADD_FAILURE() << "no error";
    } catch (const mp::TraceError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}

TEST(TraceModel, TraceErrorIsAMnemoError) {
  mp::Trace t = base();
  EXPECT_THROW(t.add_slice({.track = 42, .name = "x"}), mnemo::Error);
}

TEST(TraceModel, WritersRefuseAnInvalidTraceBeforeWriting) {
  mp::Trace t = base();
  t.add_slice({.track = 2, .name = "child", .start_ns = 150, .end_ns = 250});
  std::ostringstream perfetto, chrome;
  EXPECT_THROW(mp::write_perfetto(t, perfetto), mp::TraceError);
  EXPECT_THROW(mp::write_chrome_json(t, chrome), mp::TraceError);
  EXPECT_TRUE(perfetto.str().empty());
  EXPECT_TRUE(chrome.str().empty());
}

TEST(TraceModel, SiblingsTouchingAndZeroLengthChildrenAreValid) {
  mp::Trace t = base();
  t.add_slice({.track = 2, .name = "a", .start_ns = 100, .end_ns = 150});
  t.add_slice({.track = 2, .name = "b", .start_ns = 150, .end_ns = 200});  // touches a: sibling
  t.add_slice({.track = 2, .name = "z", .start_ns = 150, .end_ns = 150});  // zero length inside b
  t.add_slice({.track = 2, .name = "next", .start_ns = 200, .end_ns = 300});
  EXPECT_NO_THROW(t.validate());
  std::vector<std::string> names;
  for (std::size_t i : t.slice_order()) names.push_back(t.slices()[i].name);
  EXPECT_EQ(names, (std::vector<std::string>{"parent", "a", "b", "z", "next"}));
}

TEST(TraceModel, MetadataReplacesByKeyAndKeepsOrder) {
  mp::Trace t;
  t.set_metadata("a", std::int64_t{1});
  t.set_metadata("b", 2.5);
  t.set_metadata("a", std::string("x"));
  ASSERT_EQ(t.metadata().size(), 2u);
  EXPECT_EQ(t.metadata()[0].key, "a");
  EXPECT_EQ(std::get<std::string>(t.metadata()[0].value), "x");
}

TEST(TraceModel, SampleTraceIsValid) { EXPECT_NO_THROW(mp::testing::sample_trace().validate()); }

// Names from session files (a label typed in Latin-1) are made acceptable rather than refused.
TEST(TraceModel, InvalidUtf8BytesAreReplacedOneEach) {
  EXPECT_EQ(mp::valid_utf8_or_replaced("r\xE9sum\xE9 run"), "r\xEF\xBF\xBDsum\xEF\xBF\xBD run");
  EXPECT_EQ(mp::valid_utf8_or_replaced("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(mp::valid_utf8_or_replaced("cut \xE2\x82"), "cut \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(mp::valid_utf8_or_replaced("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  mp::Trace t;
  EXPECT_NO_THROW(t.add_track({.id = 1, .name = mp::valid_utf8_or_replaced("\xFF\xFE label")}));
}

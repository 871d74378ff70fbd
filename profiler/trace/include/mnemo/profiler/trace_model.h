// An in-memory trace, independent of the session schema: tracks (slice or counter), slices nested
// on their track, counter samples and trace-level metadata. The exporters (perfetto_writer.h,
// chrome_json_writer.h) read it; whatever records or reads sessions builds it.
//
// Errors: add_* reject what one call can see (unknown track, end < start, wrong track kind, bad
// UTF-8, non-finite numbers) and validate() what needs the whole trace (slices on one track that
// partially overlap). Both throw TraceError; a Trace that threw keeps its earlier contents.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "mnemo/core/error.h"

namespace mnemo::profiler {

class TraceError : public Error {
 public:
  using Error::Error;
};

using TrackId = std::uint64_t;  // caller-chosen, unique, non-zero (Perfetto's uuid 0 is the global track)

enum class TrackKind {
  kSlice,    // thread-like: slices nest by time
  kCounter,  // a value over time
};

struct Track {
  TrackId id = 0;
  std::optional<TrackId> parent;  // must be added before its children
  std::string name;
  TrackKind kind = TrackKind::kSlice;
  std::optional<std::int32_t> pid;  // pid alone: the process's track; pid and tid: a thread's track
  std::optional<std::int32_t> tid;  // needs pid; only on slice tracks; one track per tid
};

using ArgValue = std::variant<std::int64_t, double, std::string>;

struct Arg {
  std::string key;
  ArgValue value;
};

struct Slice {
  TrackId track = 0;
  std::string name;
  std::string category;
  std::int64_t start_ns = 0;  // >= 0
  std::int64_t end_ns = 0;    // >= start_ns
  std::vector<Arg> args;
  std::optional<std::uint64_t> flow_id;  // slices sharing an id are linked, earliest first
};

struct CounterSample {
  TrackId track = 0;
  std::int64_t t_ns = 0;  // >= 0
  double value = 0.0;     // finite
};

class Trace {
 public:
  void add_track(Track track);            // parent, if any, must exist already
  void add_slice(Slice slice);            // on a slice track
  void add_counter(CounterSample sample);  // on a counter track
  void set_metadata(std::string key, ArgValue value);  // replaces an earlier value for key

  // Throws TraceError when two slices on one track partially overlap. Writers call it first.
  void validate() const;

  // Slice indices in drawing order: by track (in track order), then start ascending, end
  // descending, so every slice follows the slice that encloses it. Throws like validate().
  std::vector<std::size_t> slice_order() const;

  const std::vector<Track>& tracks() const { return tracks_; }
  const std::vector<Slice>& slices() const { return slices_; }
  const std::vector<CounterSample>& counters() const { return counters_; }
  const std::vector<Arg>& metadata() const { return metadata_; }  // in first-set order
  const Track& track(TrackId id) const;  // throws TraceError for an unknown id
  std::size_t track_index(TrackId id) const;

 private:
  std::vector<Track> tracks_;
  std::unordered_map<TrackId, std::size_t> track_index_;
  std::vector<Slice> slices_;
  std::vector<CounterSample> counters_;
  std::vector<Arg> metadata_;
};

// True when `child` lies inside `parent` on one track. A slice starting exactly where a
// non-empty parent ends is its sibling; a zero-length slice inside a parent is a child.
bool slice_contains(const Slice& parent, const Slice& child);

// Text as a trace accepts it: `s` with each byte that does not start a well-formed UTF-8 sequence
// replaced by U+FFFD. For names taken from files, which hold text as it was given (a session's
// label or model path need not be UTF-8).
std::string valid_utf8_or_replaced(std::string_view s);

}  // namespace mnemo::profiler

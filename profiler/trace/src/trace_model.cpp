#include "mnemo/profiler/trace_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string_view>

namespace mnemo::profiler {
namespace {

// The length of the well-formed UTF-8 sequence at s[i] (no overlongs, no surrogates, at most
// U+10FFFF), or 0 when there is none: both formats carry strings as UTF-8, and a JSON or protobuf
// reader may reject anything else.
std::size_t utf8_sequence_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) n = 1, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 2, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 3, cp = c & 0x07;
  else return 0;
  if (i + n >= s.size()) return 0;  // truncated sequence
  for (std::size_t k = 1; k <= n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n + 1;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0, n = 0; i < s.size(); i += n)
    if ((n = utf8_sequence_at(s, i)) == 0) return false;
  return true;
}

void check_text(std::string_view what, const std::string& s) {
  if (!valid_utf8(s)) throw TraceError(std::string(what) + " is not valid UTF-8");
}

void check_args(const std::string& where, const std::vector<Arg>& args) {
  for (const Arg& a : args) {
    check_text(where + ": argument key", a.key);
    if (const auto* d = std::get_if<double>(&a.value); d && !std::isfinite(*d))
      throw TraceError(where + ": argument '" + a.key + "' is not a finite number");
    if (const auto* s = std::get_if<std::string>(&a.value))
      check_text(where + ": argument '" + a.key + "'", *s);
  }
}

std::string describe(const Slice& s) {
  return "slice '" + s.name + "' [" + std::to_string(s.start_ns) + ", " + std::to_string(s.end_ns) +
         "] ns";
}

}  // namespace

std::string valid_utf8_or_replaced(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (const std::size_t n = utf8_sequence_at(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the byte that starts no sequence
      ++i;
    }
  }
  return out;
}

bool slice_contains(const Slice& parent, const Slice& child) {
  if (child.start_ns < parent.start_ns || child.end_ns > parent.end_ns) return false;
  return child.start_ns < parent.end_ns || parent.start_ns == parent.end_ns;
}

void Trace::add_track(Track track) {
  const std::string where = "track " + std::to_string(track.id) + " '" + track.name + "'";
  if (track.id == 0) throw TraceError(where + ": id 0 is reserved (Perfetto's global track)");
  if (track_index_.count(track.id)) throw TraceError(where + ": id already used");
  check_text(where + ": name", track.name);
  if (track.parent && !track_index_.count(*track.parent))
    throw TraceError(where + ": parent track " + std::to_string(*track.parent) +
                     " is unknown (add parents first)");
  if (track.tid && !track.pid) throw TraceError(where + ": a tid needs a pid");
  if (track.kind == TrackKind::kCounter && (track.pid || track.tid))
    throw TraceError(where + ": a counter track takes its process from its parent, not a pid/tid");
  if (track.tid) {
    for (const Track& t : tracks_)
      if (t.tid == track.tid)
        throw TraceError(where + ": tid " + std::to_string(*track.tid) + " already belongs to track " +
                         std::to_string(t.id));
  } else if (track.pid) {
    for (const Track& t : tracks_)
      if (t.pid == track.pid && !t.tid)
        throw TraceError(where + ": pid " + std::to_string(*track.pid) + " already has process track " +
                         std::to_string(t.id));
  }
  track_index_.emplace(track.id, tracks_.size());
  tracks_.push_back(std::move(track));
}

void Trace::add_slice(Slice slice) {
  const std::string where = describe(slice);
  auto it = track_index_.find(slice.track);
  if (it == track_index_.end())
    throw TraceError(where + ": unknown track " + std::to_string(slice.track));
  if (tracks_[it->second].kind != TrackKind::kSlice)
    throw TraceError(where + ": track " + std::to_string(slice.track) + " is a counter track");
  if (slice.start_ns < 0) throw TraceError(where + ": negative start time");
  if (slice.end_ns < slice.start_ns) throw TraceError(where + ": ends before it starts");
  check_text("slice name", slice.name);
  check_text(where + ": category", slice.category);
  check_args(where, slice.args);
  slices_.push_back(std::move(slice));
}

void Trace::add_counter(CounterSample sample) {
  const std::string where = "counter sample at " + std::to_string(sample.t_ns) + " ns";
  auto it = track_index_.find(sample.track);
  if (it == track_index_.end())
    throw TraceError(where + ": unknown track " + std::to_string(sample.track));
  if (tracks_[it->second].kind != TrackKind::kCounter)
    throw TraceError(where + ": track " + std::to_string(sample.track) + " is not a counter track");
  if (sample.t_ns < 0) throw TraceError(where + ": negative time");
  if (!std::isfinite(sample.value)) throw TraceError(where + ": value is not finite");
  counters_.push_back(sample);
}

void Trace::set_metadata(std::string key, ArgValue value) {
  std::vector<Arg> one{{key, value}};
  check_args("metadata", one);
  for (Arg& a : metadata_)
    if (a.key == key) {
      a.value = std::move(value);
      return;
    }
  metadata_.push_back(std::move(one.front()));
}

const Track& Trace::track(TrackId id) const { return tracks_[track_index(id)]; }

std::size_t Trace::track_index(TrackId id) const {
  auto it = track_index_.find(id);
  if (it == track_index_.end()) throw TraceError("unknown track " + std::to_string(id));
  return it->second;
}

std::vector<std::size_t> Trace::slice_order() const {
  std::vector<std::size_t> order(slices_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Slice& x = slices_[a];
    const Slice& y = slices_[b];
    const std::size_t tx = track_index_.at(x.track), ty = track_index_.at(y.track);
    if (tx != ty) return tx < ty;
    if (x.start_ns != y.start_ns) return x.start_ns < y.start_ns;
    return x.end_ns > y.end_ns;
  });
  // One pass with a stack of open slices per track: each slice must lie inside the innermost
  // open slice that has not ended before it starts.
  std::vector<std::size_t> open;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const Slice& s = slices_[order[k]];
    if (k > 0 && slices_[order[k - 1]].track != s.track) open.clear();
    while (!open.empty() && !slice_contains(slices_[open.back()], s)) {
      const Slice& top = slices_[open.back()];
      if (s.start_ns < top.end_ns)
        throw TraceError("track " + std::to_string(s.track) + " '" + track(s.track).name + "': " +
                         describe(s) + " partially overlaps " + describe(top) +
                         " (slices on one track must nest)");
      open.pop_back();
    }
    open.push_back(order[k]);
  }
  return order;
}

void Trace::validate() const { (void)slice_order(); }

}  // namespace mnemo::profiler

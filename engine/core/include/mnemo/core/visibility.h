// Which keys a query sees: the one definition of a mask pattern, shared by the attention kernel
// (its key ranges), the probes (recomputed rows), the session recorder and readers (profiler code
// may include engine/core). Header-only so that every reader compiles the same code; the golden
// table tests/golden/visibility.json pins it for the Python reader too.
//
// A key is visible to a query when the mask pattern allows the pair of positions AND the key is
// resident (still held by the layer's memory). Positions are absolute token positions, so query
// and key positions may have gaps (eviction, segments); nothing here assumes key j sits at j.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mnemo {

// The patterns visibility knows. Mask patterns are named in layer descriptors ("causal", ...);
// a new pattern is a new case here and in mask_pattern_from_name, nowhere else.
enum class MaskPattern : int32_t {
  None = 0,    // bidirectional (encoders): every query sees every key
  Causal = 1,  // key visible when key_pos <= query_pos
  Window = 2,  // causal, and query_pos - key_pos < window
  // causal within segments of `window` positions (floor(pos / window) equal): a model cut into
  // segments (recurrent memory transformers) as its sessions hold its tokens; no layer declares it
  Segments = 3,
};

struct Mask {
  MaskPattern pattern = MaskPattern::Causal;
  int64_t window = 0;  // Window: how many positions, the query's own included; Segments: the segment length
};

constexpr const char* mask_pattern_name(MaskPattern p) {
  switch (p) {
    case MaskPattern::None: return "none";
    case MaskPattern::Causal: return "causal";
    case MaskPattern::Window: return "window";
    case MaskPattern::Segments: return "segments";
  }
  return "unknown";
}

constexpr std::optional<MaskPattern> mask_pattern_from_name(std::string_view name) {
  if (name == "none") return MaskPattern::None;
  if (name == "causal") return MaskPattern::Causal;
  if (name == "window") return MaskPattern::Window;
  if (name == "segments") return MaskPattern::Segments;
  return std::nullopt;
}

// The definition: may the query at query_pos read the key at key_pos?
constexpr bool visible(const Mask& mask, int64_t query_pos, int64_t key_pos, bool resident) {
  if (!resident) return false;
  switch (mask.pattern) {
    case MaskPattern::None: return true;
    case MaskPattern::Causal: return key_pos <= query_pos;
    case MaskPattern::Window: return key_pos <= query_pos && query_pos - key_pos < mask.window;
    case MaskPattern::Segments:
      return key_pos <= query_pos && mask.window > 0 && key_pos >= 0 && key_pos / mask.window == query_pos / mask.window;
  }
  return false;
}

// Keys [begin, end) of a memory whose slot j holds position j and every slot is resident (no
// eviction): what visible() allows there is one contiguous range, which the kernel walks in
// blocks. tests/core/visibility_test.cpp checks the range against visible() pair by pair.
struct KeyRange {
  int64_t begin = 0, end = 0;
};

constexpr KeyRange visible_key_range(const Mask& mask, int64_t query_pos, int64_t n_keys) {
  switch (mask.pattern) {
    case MaskPattern::None: return {0, n_keys};
    case MaskPattern::Causal: return {0, std::clamp<int64_t>(query_pos + 1, 0, n_keys)};
    case MaskPattern::Window: {
      const int64_t end = std::clamp<int64_t>(query_pos + 1, 0, n_keys);
      return {std::clamp<int64_t>(query_pos - mask.window + 1, 0, end), end};
    }
    case MaskPattern::Segments: {
      const int64_t end = std::clamp<int64_t>(query_pos + 1, 0, n_keys);
      if (mask.window <= 0 || query_pos < 0) return {0, 0};
      return {std::clamp<int64_t>(query_pos / mask.window * mask.window, 0, end), end};
    }
  }
  return {0, 0};
}

}  // namespace mnemo

// The rows of one forward of a segmented memory model, as the host is told them (set_rows): each
// row's position within its segment, its role (token, memory read, memory write) and its id (a
// token's sequence position, a memory row's slot). Shared by the segmented models built on the
// transformer stack: RMT ([read | tokens | write]), ARMT ([tokens | write]) and Infini-attention
// ([tokens], at their places within the segment).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mnemo/plugin_sdk.hpp"

namespace transformer {

// Where a forward's tokens lie in their segment (the host never lets one cross a boundary).
struct Piece {
  int64_t offset = 0;  // tokens of the segment before the piece
  bool begins = false, completes = false;
};

inline Piece locate(const mnemo_forward_args& a, int64_t segment_size) {
  Piece p;
  p.offset = a.pos0 - int64_t{a.segment_ids[0]} * segment_size;
  if (p.offset < 0 || p.offset + a.n_tokens > segment_size)
    throw mnemo::sdk::PluginError(MNEMO_ERR_INVALID, "tokens " + std::to_string(a.pos0) + " .. " +
                                                         std::to_string(a.pos0 + a.n_tokens - 1) +
                                                         " do not lie within segment " + std::to_string(a.segment_ids[0]));
  p.begins = p.offset == 0;
  p.completes = p.offset + a.n_tokens == segment_size;
  return p;
}

class SegmentRows {
 public:
  void clear() { positions_.clear(), roles_.clear(), ids_.clear(); }
  // `count` memory rows of `role` at positions position0.., slots 0..count-1.
  void add_memory(int64_t count, int32_t position0, int32_t role) {
    for (int64_t i = 0; i < count; ++i) add(position0 + static_cast<int32_t>(i), role, static_cast<int32_t>(i));
  }
  // The forward's tokens at positions position0.., named by their sequence positions.
  void add_tokens(const mnemo_forward_args& a, int32_t position0) {
    for (int64_t i = 0; i < a.n_tokens; ++i) add(position0 + static_cast<int32_t>(i), MNEMO_ROW_TOKEN, a.positions[i]);
  }
  int64_t size() const { return static_cast<int64_t>(positions_.size()); }
  const int32_t* positions() const { return positions_.data(); }
  void publish(const mnemo::sdk::Host& host) const { host.set_rows({0, size(), positions_.data(), roles_.data(), ids_.data()}); }

 private:
  void add(int32_t position, int32_t role, int32_t id) {
    positions_.push_back(position);
    roles_.push_back(role);
    ids_.push_back(id);
  }
  std::vector<int32_t> positions_, roles_, ids_;
};

}  // namespace transformer

// Keys and values of every layer, stored head-major ([kv_head][position][head_dim]) so attention
// streams one head's keys contiguously. Capacity grows by doubling up to the model's context;
// the buffers are touched when allocated so decode steps never page-fault.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace mnemo::rt {

class KvCache {
 public:
  void configure(int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, int64_t max_positions);
  // Makes room for `positions` positions in every layer (keeping what is stored). Throws
  // mnemo::Error when that exceeds max_positions.
  void reserve(int64_t positions);
  void clear();

  // Writes t new positions at pos0.. from row-major [t][n_kv_heads][head_dim] inputs.
  void append(int32_t layer, const float* k, const float* v, int64_t pos0, int64_t t);

  const float* keys(int32_t layer) const { return layers_[layer].k.get(); }
  const float* values(int32_t layer) const { return layers_[layer].v.get(); }
  int64_t head_stride() const { return capacity_ * head_dim_; }
  int64_t size(int32_t layer) const { return layers_[layer].size; }
  int64_t capacity() const { return capacity_; }
  int64_t max_positions() const { return max_positions_; }
  uint64_t bytes_per_position() const { return 2ull * n_kv_heads_ * head_dim_ * sizeof(float); }
  uint64_t bytes_reserved_per_layer() const { return bytes_per_position() * capacity_; }

 private:
  struct Layer {
    std::unique_ptr<float[]> k, v;
    int64_t size = 0;
  };
  std::vector<Layer> layers_;
  int32_t n_kv_heads_ = 0, head_dim_ = 0;
  int64_t capacity_ = 0, max_positions_ = 0;
};

}  // namespace mnemo::rt

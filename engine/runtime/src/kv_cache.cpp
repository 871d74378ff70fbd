#include "mnemo/runtime/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo::rt {
namespace {
constexpr int64_t kInitialPositions = 256;
}

void KvCache::configure(int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, int64_t max_positions) {
  layers_.clear();
  layers_.resize(static_cast<size_t>(n_layers));
  n_kv_heads_ = n_kv_heads;
  head_dim_ = head_dim;
  max_positions_ = max_positions;
  capacity_ = 0;
}

void KvCache::reserve(int64_t positions) {
  if (positions <= capacity_) return;
  if (positions > max_positions_)
    throw Error("context full: " + std::to_string(positions) + " positions requested, the model allows " +
                std::to_string(max_positions_));
  int64_t cap = std::max<int64_t>(capacity_ ? capacity_ : kInitialPositions, 1);
  while (cap < positions) cap *= 2;
  cap = std::min(cap, max_positions_);
  const size_t elems = static_cast<size_t>(n_kv_heads_) * static_cast<size_t>(cap) * static_cast<size_t>(head_dim_);
  for (auto& layer : layers_) {
    std::unique_ptr<float[]> k(new float[elems]()), v(new float[elems]());  // zeroed: pages touched now
    for (int32_t h = 0; h < n_kv_heads_; ++h) {
      const size_t keep = static_cast<size_t>(layer.size * head_dim_);
      if (keep == 0) continue;
      std::memcpy(k.get() + h * cap * head_dim_, layer.k.get() + h * capacity_ * head_dim_, keep * sizeof(float));
      std::memcpy(v.get() + h * cap * head_dim_, layer.v.get() + h * capacity_ * head_dim_, keep * sizeof(float));
    }
    layer.k = std::move(k);
    layer.v = std::move(v);
  }
  capacity_ = cap;
}

void KvCache::clear() {
  for (auto& layer : layers_) layer.size = 0;
}

void KvCache::append(int32_t layer, const float* k, const float* v, int64_t pos0, int64_t t) {
  reserve(pos0 + t);
  Layer& L = layers_[static_cast<size_t>(layer)];
  const int64_t stride = head_stride();
  for (int64_t i = 0; i < t; ++i) {
    for (int32_t h = 0; h < n_kv_heads_; ++h) {
      const int64_t src = (i * n_kv_heads_ + h) * head_dim_;
      const int64_t dst = h * stride + (pos0 + i) * head_dim_;
      std::memcpy(L.k.get() + dst, k + src, static_cast<size_t>(head_dim_) * sizeof(float));
      std::memcpy(L.v.get() + dst, v + src, static_cast<size_t>(head_dim_) * sizeof(float));
    }
  }
  L.size = pos0 + t;
}

}  // namespace mnemo::rt

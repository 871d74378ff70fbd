#include "mnemo/runtime/memory.h"

#include <algorithm>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo::rt {
namespace {
constexpr int64_t kInitialSlots = 256;
}

KvMemory::KvMemory(backend::Backend& backend, int32_t n_kv_heads, int32_t key_dim, int32_t value_dim, int64_t max_slots)
    : backend_(backend), n_kv_heads_(n_kv_heads), key_dim_(key_dim), value_dim_(value_dim), max_slots_(max_slots) {}

void KvMemory::reset() {
  n_slots_ = 0;
  positions_.clear();
  resident_.clear();
  roles_.clear();
  ids_.clear();
  in_order_ = true;
  only_tokens_ = true;
}

void KvMemory::reserve(int64_t slots) {
  if (slots <= capacity_) return;
  if (slots > max_slots_)
    throw Error("context full: " + std::to_string(slots) + " positions requested, the model allows " + std::to_string(max_slots_));
  int64_t cap = std::max<int64_t>(capacity_ ? capacity_ : kInitialSlots, 1);
  while (cap < slots) cap *= 2;
  cap = std::min(cap, max_slots_);
  auto grow = [&](std::unique_ptr<backend::Buffer>& buffer, int64_t dim) {
    auto bigger = backend_.allocate(int64_t{n_kv_heads_} * cap * dim);
    if (buffer && n_slots_ > 0)
      for (int32_t g = 0; g < n_kv_heads_; ++g)
        backend_.copy({bigger.get(), g * cap * dim, 1, n_slots_ * dim, n_slots_ * dim},
                      {buffer.get(), g * capacity_ * dim, 1, n_slots_ * dim, n_slots_ * dim});
    buffer = std::move(bigger);
  };
  grow(k_, key_dim_);
  grow(v_, value_dim_);
  capacity_ = cap;
}

void KvMemory::append(const backend::View& k, const backend::View& v, const int32_t* positions, const uint8_t* roles,
                      const int32_t* ids) {
  const int64_t t = k.rows;
  if (v.rows != t || k.cols != int64_t{n_kv_heads_} * key_dim_ || v.cols != int64_t{n_kv_heads_} * value_dim_)
    throw Error("keys [" + std::to_string(k.rows) + ", " + std::to_string(k.cols) + "] and values [" + std::to_string(v.rows) +
                ", " + std::to_string(v.cols) + "] do not fit a KV memory of " + std::to_string(n_kv_heads_) + " heads of " +
                std::to_string(key_dim_) + " and " + std::to_string(value_dim_));
  reserve(n_slots_ + t);
  for (int32_t g = 0; g < n_kv_heads_; ++g) {
    backend_.copy({k_.get(), g * key_head_stride() + n_slots_ * key_dim_, t, key_dim_, key_dim_}, k.sub(0, t, g * key_dim_, key_dim_));
    backend_.copy({v_.get(), g * value_head_stride() + n_slots_ * value_dim_, t, value_dim_, value_dim_},
                  v.sub(0, t, g * value_dim_, value_dim_));
  }
  for (int64_t i = 0; i < t; ++i) {
    in_order_ = in_order_ && positions[i] == n_slots_ + i;
    positions_.push_back(positions[i]);
    resident_.push_back(1);
    roles_.push_back(roles ? roles[i] : uint8_t{MNEMO_ROW_TOKEN});
    ids_.push_back(ids ? ids[i] : positions[i]);
    only_tokens_ = only_tokens_ && roles_.back() == MNEMO_ROW_TOKEN;
  }
  n_slots_ += t;
}

int64_t KvMemory::n_resident() const {
  return static_cast<int64_t>(std::count(resident_.begin(), resident_.end(), uint8_t{1}));
}

std::vector<std::pair<int64_t, int64_t>> KvMemory::resident_ranges() const {
  std::vector<int64_t> held;
  held.reserve(static_cast<size_t>(n_slots_));
  for (int64_t j = 0; j < n_slots_; ++j)
    if (resident_[static_cast<size_t>(j)]) held.push_back(positions_[static_cast<size_t>(j)]);
  if (!in_order_) std::sort(held.begin(), held.end());
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int64_t p : held) {
    if (!ranges.empty() && ranges.back().second >= p) ranges.back().second = std::max(ranges.back().second, p + 1);
    else ranges.emplace_back(p, p + 1);
  }
  return ranges;
}

RecurrentState::RecurrentState(backend::Backend& backend, int32_t heads, int32_t rows, int32_t cols, int32_t conv_channels,
                               int32_t conv_width)
    : backend_(backend), heads_(heads), rows_(rows), cols_(cols), conv_channels_(conv_channels), conv_width_(conv_width) {
  state_ = backend_.allocate(int64_t{heads} * rows * cols);
  if (conv_width_ > 1 && conv_channels_ > 0) conv_ = backend_.allocate(int64_t{conv_channels_} * (conv_width_ - 1));
}

backend::View RecurrentState::conv() const {
  if (!conv_) return {};
  return {conv_.get(), 0, conv_channels_, conv_width_ - 1, conv_width_ - 1};
}

void RecurrentState::reset() {
  auto zero = [&](const backend::View& v) {
    if (!v.buffer) return;
    const std::vector<float> zeros(static_cast<size_t>(v.elements()), 0.f);
    backend_.write(v, zeros.data());
  };
  zero(state());
  zero(conv());
}

uint64_t RecurrentState::bytes_reserved() const {
  return static_cast<uint64_t>(state().elements() + conv().elements()) * sizeof(float);
}

void ModelMemory::configure(backend::Backend& backend, const std::vector<LayerDesc>& layers, int64_t max_positions,
                            const std::string& path) {
  layers_.clear();
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerDesc& L = layers[i];
    if (L.memory == "kv_cache")
      layers_.push_back(std::make_unique<KvMemory>(backend, L.n_kv_heads, L.key_dim, L.value_dim, max_positions));
    else if (L.memory == "recurrent_state")
      layers_.push_back(std::make_unique<RecurrentState>(backend, L.n_heads, L.state_rows, L.state_cols, L.conv_channels,
                                                         L.conv_width));
    else if (L.memory == "none")
      layers_.push_back(nullptr);
    else
      throw FormatError(path, "layer " + std::to_string(i) + " keeps '" + L.memory + "', which this engine does not keep yet");
  }
}

void ModelMemory::reserve(int64_t slots) {
  for (auto& m : layers_)
    if (auto* kv = dynamic_cast<KvMemory*>(m.get())) kv->reserve(slots);
}

void ModelMemory::reset() {
  for (auto& m : layers_)
    if (m) m->reset();
}

void ModelMemory::begin_segment() {
  for (auto& m : layers_)
    if (auto* kv = dynamic_cast<KvMemory*>(m.get())) kv->reset();
}

uint64_t ModelMemory::bytes_used() const {
  uint64_t n = 0;
  for (const auto& m : layers_) n += m ? m->bytes_used() : 0;
  return n;
}

uint64_t ModelMemory::bytes_reserved() const {
  uint64_t n = 0;
  for (const auto& m : layers_) n += m ? m->bytes_reserved() : 0;
  return n;
}

}  // namespace mnemo::rt

// What each layer keeps between steps, behind one interface (as llama.cpp's llama_memory_i holds
// KV caches, recurrent state and hybrids): rt::ModelMemory owns one LayerMemory per layer, chosen
// by the layer descriptor's memory kind. Storage is the backend's (buffers), so a device backend
// keeps it where its kernels run.
//
//   KvMemory        slots of keys and values per KV head; each slot knows the position it holds
//                   (keys have identity) and whether it is resident. Eviction policies (later)
//                   free slots; today slots fill in order and stay resident.
//   RecurrentState  [heads][state_rows][state_cols] fp32 plus a convolution window
//                   [conv_channels][conv_width - 1] (SSMs).
//
// Memory rows (recurrent memory transformers) are the plugin's: it adds them to a segment's rows
// (mnemo_host_api::set_rows), and the KV memory keeps each slot's role and id beside its position,
// so the probes tell a memory slot from a token. A layer declaring "memory_tokens" is refused at
// load: no layer keeps memory rows of its own.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "mnemo/backend/backend.h"
#include "mnemo/runtime/layers.h"

namespace mnemo::rt {

class LayerMemory {
 public:
  virtual ~LayerMemory() = default;
  virtual const char* kind() const = 0;
  virtual void reset() = 0;  // the next forward starts a new sequence
  virtual uint64_t bytes_used() const = 0;
  virtual uint64_t bytes_reserved() const = 0;
};

class KvMemory final : public LayerMemory {
 public:
  // Storage grows by doubling up to max_slots; buffers are zeroed (touched) when allocated so
  // decode steps never page-fault.
  KvMemory(backend::Backend& backend, int32_t n_kv_heads, int32_t key_dim, int32_t value_dim, int64_t max_slots);

  const char* kind() const override { return "kv_cache"; }
  void reset() override;
  uint64_t bytes_used() const override { return bytes_per_slot() * static_cast<uint64_t>(n_slots_); }
  uint64_t bytes_reserved() const override { return bytes_per_slot() * static_cast<uint64_t>(capacity_); }

  // Makes room for `slots` slots (keeping what is stored). Throws mnemo::Error past max_slots.
  void reserve(int64_t slots);
  // Stores t keys and values (rows [n_kv_heads * key_dim] and [n_kv_heads * value_dim]) in the
  // next free slots, slot of row i holding positions[i]; its role (mnemo_row_role) and id are
  // roles[i] and ids[i], or a token at its position when they are null.
  void append(const backend::View& k, const backend::View& v, const int32_t* positions, const uint8_t* roles = nullptr,
              const int32_t* ids = nullptr);

  // Keys of KV head g: slot j at keys() + g * key_head_stride() + j * key_dim (values alike).
  const backend::Buffer* keys() const { return k_.get(); }
  const backend::Buffer* values() const { return v_.get(); }
  int64_t key_head_stride() const { return capacity_ * key_dim_; }
  int64_t value_head_stride() const { return capacity_ * value_dim_; }
  int64_t n_slots() const { return n_slots_; }  // slots in use, resident or not
  int64_t capacity() const { return capacity_; }
  int32_t n_kv_heads() const { return n_kv_heads_; }
  int32_t key_dim() const { return key_dim_; }
  int32_t value_dim() const { return value_dim_; }
  uint64_t bytes_per_slot() const { return uint64_t{static_cast<uint32_t>(n_kv_heads_)} * (key_dim_ + value_dim_) * sizeof(float); }

  std::span<const int64_t> slot_positions() const { return {positions_.data(), static_cast<size_t>(n_slots_)}; }
  std::span<const uint8_t> slot_resident() const { return {resident_.data(), static_cast<size_t>(n_slots_)}; }
  std::span<const uint8_t> slot_roles() const { return {roles_.data(), static_cast<size_t>(n_slots_)}; }
  std::span<const int32_t> slot_ids() const { return {ids_.data(), static_cast<size_t>(n_slots_)}; }
  // True when every slot holds a token (no memory rows): ids are then the positions.
  bool only_tokens() const { return only_tokens_; }
  int64_t n_resident() const;
  // True when slot j holds position j and every slot is resident: what the attention kernel's
  // key ranges assume.
  bool in_position_order() const { return in_order_; }
  // Resident positions as sorted, disjoint ranges [begin, end).
  std::vector<std::pair<int64_t, int64_t>> resident_ranges() const;

 private:
  backend::Backend& backend_;
  int32_t n_kv_heads_, key_dim_, value_dim_;
  int64_t max_slots_, capacity_ = 0, n_slots_ = 0;
  std::unique_ptr<backend::Buffer> k_, v_;
  std::vector<int64_t> positions_;
  std::vector<uint8_t> resident_;
  std::vector<uint8_t> roles_;
  std::vector<int32_t> ids_;
  bool in_order_ = true, only_tokens_ = true;
};

class RecurrentState final : public LayerMemory {
 public:
  RecurrentState(backend::Backend& backend, int32_t heads, int32_t rows, int32_t cols, int32_t conv_channels,
                 int32_t conv_width);

  const char* kind() const override { return "recurrent_state"; }
  void reset() override;  // zeroes the state and the convolution window
  uint64_t bytes_used() const override { return bytes_reserved(); }
  uint64_t bytes_reserved() const override;

  int32_t heads() const { return heads_; }
  int32_t rows() const { return rows_; }
  int32_t cols() const { return cols_; }
  // [heads * rows][cols]
  backend::View state() const { return {state_.get(), 0, int64_t{heads_} * rows_, cols_, cols_}; }
  // [conv_channels][conv_width - 1]; no buffer without a convolution.
  backend::View conv() const;

 private:
  backend::Backend& backend_;
  int32_t heads_, rows_, cols_, conv_channels_, conv_width_;
  std::unique_ptr<backend::Buffer> state_, conv_;
};

class ModelMemory {
 public:
  // One memory per layer from its descriptor; KV memories hold at most max_positions slots.
  // Throws FormatError naming `path` for a memory kind the host does not keep.
  void configure(backend::Backend& backend, const std::vector<LayerDesc>& layers, int64_t max_positions,
                 const std::string& path);
  // Room for `slots` slots in every KV memory (the slots in use after this step).
  void reserve(int64_t slots);
  void reset();
  // A segment of a segmented model begins: every KV memory empties (attention stays within a
  // segment), recurrent state carries on.
  void begin_segment();

  int32_t n_layers() const { return static_cast<int32_t>(layers_.size()); }
  LayerMemory* layer(int32_t i) const { return layers_[static_cast<size_t>(i)].get(); }
  KvMemory* kv(int32_t i) const { return dynamic_cast<KvMemory*>(layer(i)); }
  RecurrentState* state(int32_t i) const { return dynamic_cast<RecurrentState*>(layer(i)); }
  uint64_t bytes_used() const;
  uint64_t bytes_reserved() const;

 private:
  std::vector<std::unique_ptr<LayerMemory>> layers_;  // null where a layer keeps nothing
};

}  // namespace mnemo::rt

// The host's reading of the plugin's layer descriptors (mnemo_layer_desc): kinds resolved through
// the registries, shapes checked once at load.
#pragma once

#include <cstdint>
#include <string>

#include "mnemo/core/visibility.h"
#include "mnemo/plugin_abi.h"

namespace mnemo::rt {

struct LayerDesc {
  std::string mixer;   // registered mixer kind ("softmax", "mamba2", ...)
  int32_t mixer_id = 0;
  std::string memory;  // "kv_cache", "recurrent_state", "memory_tokens", "none"
  int32_t memory_id = 0;
  int32_t n_heads = 0, n_kv_heads = 0;
  int32_t key_dim = 0, value_dim = 0;
  int32_t state_rows = 0, state_cols = 0;
  Mask mask;           // softmax layers
  float scale = 0.f;
  int32_t conv_width = 0, conv_channels = 0;

  bool keeps_kv() const { return memory == "kv_cache"; }
  bool keeps_state() const { return memory == "recurrent_state"; }
};

// Validates layer `index` as the plugin described it. Throws FormatError naming `path` and the
// problem (an unregistered mixer, a memory the mixer cannot keep, inconsistent shapes).
LayerDesc read_layer_desc(const mnemo_layer_desc& d, int32_t index, const std::string& path);

}  // namespace mnemo::rt

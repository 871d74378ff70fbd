// Internal state of a loaded model, shared by model.cpp (lifecycle, forward) and host_api.cpp
// (the services table the plugin calls).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/backend/backend.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/io/model_file.h"
#include "mnemo/runtime/layers.h"
#include "mnemo/runtime/memory.h"
#include "mnemo/runtime/model.h"
#include "mnemo/runtime/plugin_registry.h"
#include "mnemo/runtime/probes.h"
#include "mnemo/tokenizer/tokenizer.h"

struct mnemo_host {
  mnemo::rt::Model::Impl* impl;
};

namespace mnemo::rt {

struct Model::Impl {
  explicit Impl(int threads) : pool(threads) {}
  ~Impl();

  std::unique_ptr<io::ModelFile> file;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::shared_ptr<LoadedPlugin> plugin;
  ThreadPool pool;
  std::unique_ptr<backend::Backend> backend;

  mnemo_host host{this};
  mnemo_host_api api{};
  mnemo_model* model = nullptr;
  mnemo_model_info info{};
  std::vector<LayerDesc> layers;
  std::vector<std::string> backend_gaps;

  // The first error raised inside a host service during the current call; reported when the
  // plugin returns (exceptions never cross the C boundary).
  std::string error;
  bool failed = false;

  ModelMemory memory;
  std::vector<std::unique_ptr<float[]>> owned_weights;  // alloc_weight buffers
  std::deque<std::string> strings;                       // meta_string results

  // This step's tokens: positions and segment ids as the plugin sees them.
  std::vector<int32_t> token_positions, segment_ids;
  // The rows of the current ops: the tokens, or the rows the plugin set (set_rows): positions as
  // ops and probes see them, and roles and ids (empty while the rows are the tokens).
  std::vector<int32_t> positions;
  std::vector<int64_t> probe_positions;
  std::vector<uint8_t> row_roles;
  std::vector<int32_t> row_ids;
  void rows_are_tokens() {
    positions = token_positions;
    probe_positions.assign(positions.begin(), positions.end());
    row_roles.clear();
    row_ids.clear();
  }

  // A model cut into segments (mnemo_segment_info): tokens per segment, 0 when it is not.
  int32_t segment_length = 0, segment_memory_rows = 0;

  std::unique_ptr<backend::Buffer> logits_buffer, hidden_buffer;
  std::vector<float> logits, hidden;
  // What a mixer probe hands its sink (lse, row statistics, pooled map): valid only during the
  // callback, so one buffer serves every layer.
  std::vector<float> mixer_probe_buffer;
  bool keep_hidden = false;
  int64_t position = 0, step = 0, max_context = 0;
  int32_t layer = -1;

  ProbeSink* sink = nullptr;
  bool want_mixer = false, want_state = false, want_kv = false, want_residual = false, want_ops = false, want_memory = false;
  int32_t thread_id = 0;

  void fail(const std::string& message) {
    if (!failed) error = message;
    failed = true;
  }
  // The plugin's handle for a backend view, and back.
  static mnemo_view to_abi(const backend::View& v) {
    return {reinterpret_cast<mnemo_buffer*>(v.buffer), v.offset, v.rows, v.cols, v.stride};
  }
  static backend::View from_abi(const mnemo_view& v) {
    return {reinterpret_cast<backend::Buffer*>(v.buffer), v.offset, v.rows, v.cols, v.stride};
  }
};

// Fills the services table the plugin receives.
void fill_host_api(mnemo_host_api& api);

}  // namespace mnemo::rt

// Internal state of a loaded model, shared by model.cpp (lifecycle, forward) and host_api.cpp
// (the services table the plugin calls).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "mnemo/core/arena.h"
#include "mnemo/core/thread_pool.h"
#include "mnemo/io/model_file.h"
#include "mnemo/runtime/kv_cache.h"
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

  mnemo_host host{this};
  mnemo_host_api api{};
  mnemo_model* model = nullptr;
  mnemo_model_info info{};

  // The first error raised inside a host service during the current call; reported when the
  // plugin returns (exceptions never cross the C boundary).
  std::string error;
  bool failed = false;

  KvCache kv;
  Arena arena;
  std::vector<std::unique_ptr<float[]>> scratch_overflow;  // used when the arena was too small
  size_t scratch_overflow_bytes = 0;
  std::vector<std::unique_ptr<float[]>> owned_weights;      // alloc_weight buffers
  std::unordered_map<const void*, std::unique_ptr<float[]>> f32_copies;  // norms/biases stored as f16/bf16
  std::deque<std::string> strings;                           // meta_string results
  std::vector<int32_t> positions;

  std::vector<float> logits, hidden;
  // What an attention probe hands its sink (lse, row statistics, pooled map): valid only during
  // the callback, so one buffer serves every layer.
  std::vector<float> attention_probe_buffer;
  bool keep_hidden = false;
  int64_t position = 0, step = 0, max_context = 0;
  int32_t layer = -1;

  ProbeSink* sink = nullptr;
  bool want_attention = false, want_kv = false, want_residual = false, want_ops = false;
  int32_t thread_id = 0;

  void fail(const std::string& message) {
    if (!failed) error = message;
    failed = true;
  }
  // Per-step scratch from the arena (or the heap when the arena is too small this step).
  float* scratch(uint64_t n);
  // An fp32 view of a small tensor (norm weights, biases) stored as f16/bf16; cached.
  const float* as_f32(const mnemo_tensor& t);
};

// Fills the services table the plugin receives.
void fill_host_api(mnemo_host_api& api);

}  // namespace mnemo::rt

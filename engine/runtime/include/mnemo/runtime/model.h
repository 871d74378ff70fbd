// A loaded model: the checkpoint, its tokenizer, the architecture plugin that runs it, its layers
// as the plugin describes them, and the host services the plugin uses (ops on a backend, the
// memory each layer keeps, probes).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mnemo/core/thread_pool.h"
#include "mnemo/io/model_file.h"
#include "mnemo/plugin_abi.h"
#include "mnemo/runtime/layers.h"
#include "mnemo/runtime/memory.h"
#include "mnemo/runtime/plugin_registry.h"
#include "mnemo/runtime/probes.h"
#include "mnemo/tokenizer/tokenizer.h"

namespace mnemo::rt {

struct ModelOptions {
  int threads = 0;                  // 0: every core available to the process
  std::string plugin_options = "{}";
  int64_t max_context = 0;          // 0: the model's own context length
};

class Model {
 public:
  // Opens the checkpoint (GGUF file or Hugging Face folder), its tokenizer, and the plugin that
  // serves its architecture. Throws mnemo::Error (FormatError for bad files) with a message that
  // names the file and the problem.
  static std::unique_ptr<Model> open(const std::string& path, const ModelOptions& options,
                                     const PluginRegistry& plugins);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const mnemo_model_info& info() const;
  bool is_decoder() const { return info().kind == MNEMO_MODEL_DECODER; }
  // One descriptor per layer: mixer, memory, shapes, mask (hybrids have layers that differ).
  const std::vector<LayerDesc>& layers() const;
  const ModelMemory& memory() const;
  // The backend the services run on ("cpu"), and what it lacks for this model that does not stop
  // it from running (weight types no op of it takes), one line each; a missing mixer op fails
  // open() instead.
  const char* backend_name() const;
  const std::vector<std::string>& backend_gaps() const;
  const io::ModelFile& file() const;
  const tok::Tokenizer& tokenizer() const;
  const PluginInfo& plugin() const;
  ThreadPool& pool();

  // Subscribes a sink to the probes (null to unsubscribe). Not owned.
  void set_probe_sink(ProbeSink* sink);

  // Runs `tokens` after everything already in the context, at the next positions, as one step
  // (the first step after reset() is the prefill); a model cut into segments runs one step per
  // segment the tokens reach into (segment_length()). Decoders return the logits of the last
  // token [vocab]; the span stays valid until the next call. Encoders return an empty span (see
  // hidden_states()).
  std::span<const float> forward(std::span<const int32_t> tokens);
  // The final hidden states [n_tokens][d_model] of the last forward's tokens (after the final norm).
  std::span<const float> hidden_states() const;
  // Tokens per segment of a model the host cuts into segments (mnemo_segment_info), else 0.
  int32_t segment_length() const;
  // Asks the next forward to also fill hidden_states() (encoders always do).
  void keep_hidden_states(bool keep);

  void reset();                 // empties every layer's memory; the next forward is step 0 at position 0
  int64_t position() const;     // tokens in the context
  int64_t step() const;         // steps run since reset()
  int64_t max_context() const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  void run_step(std::span<const int32_t> tokens);  // one plugin forward: one step
  std::unique_ptr<Impl> impl_;
};

}  // namespace mnemo::rt

// The rmt plugin's entry point: the Recurrent Memory Transformer (model_type "rmt") and its
// associative variant (model_type "armt"). Reads the segmentation and the memory's settings from
// config.json and the backbone with the transformer plugin's loaders (the backbone's Hugging Face
// keys and tensor names, unchanged).
#include <optional>
#include <string>

#include "associative_memory.hpp"
#include "recurrent_memory.hpp"
#include "segmented_transformer.hpp"

namespace {

using mnemo::sdk::Host;
using mnemo::sdk::PluginError;

const char* const kArchitectures[] = {"rmt", "armt", nullptr};

// RMT is cut by the host into segments whatever the total length; its context is the sequence a
// user may feed, not the backbone's positions (those bound one segment's rows).
constexpr int32_t kDefaultMaxTokens = 1 << 20;

int32_t setting(const Host& host, const char* key, int64_t limit, std::optional<int64_t> fallback = {}) {
  return static_cast<int32_t>(transformer::positive_setting(host, key, limit, fallback));
}

std::unique_ptr<mnemo::sdk::Model> create_model(const Host& host, std::string_view /*options*/) {
  if (host.is_gguf()) throw PluginError(MNEMO_ERR_UNSUPPORTED, "rmt models are read from safetensors folders");
  const std::string type = host.meta_string("model_type").value_or("");
  if (type != "rmt" && type != "armt")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "the rmt plugin does not serve architecture '" + type + "'");
  rmt::Settings s;
  s.memory_tokens = setting(host, "num_mem_tokens", 4096);
  s.segment_size = setting(host, "segment_size", 1 << 20);
  s.max_tokens = setting(host, "max_sequence_length", int64_t{1} << 30, kDefaultMaxTokens);

  transformer::ModelDef def = transformer::load_backbone(host, type);
  if (type == "rmt") return rmt::make_recurrent_memory(host, std::move(def), s);
  rmt::AssociativeSettings m;
  m.d_mem = setting(host, "d_mem", 1 << 16);
  m.heads = setting(host, "memory_heads", 1024, 1);
  m.nu = setting(host, "dpfp_nu", 8, 3);
  return rmt::make_associative_memory(host, std::move(def), s, m);
}

}  // namespace

MNEMO_DEFINE_PLUGIN("rmt", "1.1.0", kArchitectures, create_model)

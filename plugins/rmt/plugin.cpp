// The rmt plugin's entry point: reads the segmentation from config.json and the backbone with the
// transformer plugin's loaders (the backbone's Hugging Face keys and tensor names, unchanged).
#include <string>

#include "recurrent_memory.hpp"

namespace {

using mnemo::sdk::Host;
using mnemo::sdk::PluginError;

const char* const kArchitectures[] = {"rmt", nullptr};

// RMT is cut by the host into segments whatever the total length; its context is the sequence a
// user may feed, not the backbone's positions (those bound one segment's rows).
constexpr int64_t kDefaultMaxTokens = int64_t{1} << 20;

int32_t setting(const Host& host, const char* key, int64_t limit) {
  const auto v = host.meta_int(key);
  if (!v) throw PluginError(MNEMO_ERR_MISSING, std::string("config.json has no integer '") + key + "'");
  if (*v <= 0 || *v > limit)
    throw PluginError(MNEMO_ERR_INVALID, std::string("'") + key + "' = " + std::to_string(*v) + " is outside 1 .. " +
                                             std::to_string(limit));
  return static_cast<int32_t>(*v);
}

std::unique_ptr<mnemo::sdk::Model> create_model(const Host& host, std::string_view /*options*/) {
  if (host.is_gguf()) throw PluginError(MNEMO_ERR_UNSUPPORTED, "rmt models are read from safetensors folders");
  const std::string type = host.meta_string("model_type").value_or("");
  if (type != "rmt") throw PluginError(MNEMO_ERR_UNSUPPORTED, "the rmt plugin does not serve architecture '" + type + "'");
  rmt::Settings s;
  s.memory_tokens = setting(host, "num_mem_tokens", 4096);
  s.segment_size = setting(host, "segment_size", 1 << 20);
  s.max_tokens = host.meta_int("max_sequence_length") ? setting(host, "max_sequence_length", int64_t{1} << 30) : kDefaultMaxTokens;

  const std::string backbone = host.meta_string("backbone").value_or("");
  transformer::ModelDef def;
  if (backbone == "gpt2")
    def = transformer::load_gpt2(host);
  else if (backbone == "llama")
    def = transformer::load_llama(host);
  else
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "rmt backbone '" + backbone + "' is not one of 'gpt2', 'llama'");
  return rmt::make_recurrent_memory(host, std::move(def), s);
}

}  // namespace

MNEMO_DEFINE_PLUGIN("rmt", "1.0.0", kArchitectures, create_model)

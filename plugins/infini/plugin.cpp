// The infini plugin's entry point: reads the segmentation and the memory's update rule from
// config.json and the backbone with the transformer plugin's loaders (the backbone's Hugging Face
// keys and tensor names, unchanged, plus one gate per head and layer).
#include <optional>
#include <string>

#include "infini_attention.hpp"
#include "segmented_transformer.hpp"

namespace {

using mnemo::sdk::Host;
using mnemo::sdk::PluginError;

const char* const kArchitectures[] = {"infini", nullptr};

// The host cuts the input into segments whatever its length; the context is the sequence a user
// may feed, not the backbone's positions (those bound one segment).
constexpr int64_t kDefaultMaxTokens = int64_t{1} << 20;

std::unique_ptr<mnemo::sdk::Model> create_model(const Host& host, std::string_view /*options*/) {
  if (host.is_gguf()) throw PluginError(MNEMO_ERR_UNSUPPORTED, "infini models are read from safetensors folders");
  const std::string type = host.meta_string("model_type").value_or("");
  if (type != "infini") throw PluginError(MNEMO_ERR_UNSUPPORTED, "the infini plugin does not serve architecture '" + type + "'");
  infini::Settings s;
  s.segment_size = static_cast<int32_t>(transformer::positive_setting(host, "segment_size", 1 << 20));
  s.max_tokens = transformer::positive_setting(host, "max_sequence_length", int64_t{1} << 30, kDefaultMaxTokens);
  const std::string update = host.meta_string("memory_update").value_or("linear");
  if (update != "linear" && update != "delta")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "'memory_update' = '" + update + "' is not one of 'linear', 'delta'");
  s.delta_rule = update == "delta";

  return infini::make_infini(host, transformer::load_backbone(host, "infini"), s);
}

}  // namespace

MNEMO_DEFINE_PLUGIN("infini", "1.0.0", kArchitectures, create_model)

// The titans plugin's entry point: reads the memory's settings from config.json and the backbone
// with the transformer plugin's loaders (the backbone's Hugging Face keys and tensor names,
// unchanged, plus the memory layers' titans.{l}.* tensors).
#include <cmath>
#include <optional>
#include <string>

#include "neural_memory.hpp"
#include "segmented_transformer.hpp"

namespace {

using mnemo::sdk::Host;
using mnemo::sdk::PluginError;

const char* const kArchitectures[] = {"titans", nullptr};

float positive_float(const Host& host, const char* key, double fallback) {
  const double v = host.meta_float(key).value_or(fallback);
  if (!(v > 0) || !std::isfinite(v))
    throw PluginError(MNEMO_ERR_INVALID, std::string("'") + key + "' = " + std::to_string(v) + " is not a positive number");
  return static_cast<float>(v);
}

std::unique_ptr<mnemo::sdk::Model> create_model(const Host& host, std::string_view /*options*/) {
  if (host.is_gguf()) throw PluginError(MNEMO_ERR_UNSUPPORTED, "titans models are read from safetensors folders");
  const std::string type = host.meta_string("model_type").value_or("");
  if (type != "titans") throw PluginError(MNEMO_ERR_UNSUPPORTED, "the titans plugin does not serve architecture '" + type + "'");
  titans::Settings s;
  s.heads = static_cast<int32_t>(transformer::positive_setting(host, "memory_heads", 1024, 1));
  s.head_dim = static_cast<int32_t>(transformer::positive_setting(host, "memory_head_dim", 4096));
  s.max_lr = positive_float(host, "memory_max_lr", 1.0);
  s.norm_eps = positive_float(host, "memory_norm_eps", 1e-6);
  return titans::make_neural_memory(host, transformer::load_backbone(host, "titans"), s);
}

}  // namespace

MNEMO_DEFINE_PLUGIN("titans", "1.0.0", kArchitectures, create_model)

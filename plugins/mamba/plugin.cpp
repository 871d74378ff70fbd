// The mamba plugin's entry point and the backbone both Mamba generations share, in Hugging
// Face's tensor names (MambaForCausalLM, Mamba2ForCausalLM) so that their checkpoints load.
#include <string>

#include "model.hpp"

namespace mamba {

MambaModelDef load_backbone(const Host& host, Config cfg, MixerLoader load_mixer) {
  using mnemo::blocks::require_shape;
  MambaModelDef m;
  cfg.n_layers = mnemo::blocks::hparam_int(host, {"num_hidden_layers", "n_layer"});
  cfg.d_model = mnemo::blocks::hparam_int(host, {"hidden_size", "d_model"});
  cfg.context_length = mnemo::blocks::hparam_int_or(host, {"max_position_embeddings"}, 1 << 20);
  const int64_t d = cfg.d_model;
  // HF ties Mamba's head to the embedding by default.
  m.ends = mnemo::blocks::DecoderEnds::load(host, cfg.d_model, "backbone.embeddings.weight", "backbone.norm_f.weight",
                                            mnemo::blocks::hparam_float(host, {"layer_norm_epsilon"}, 1e-5f),
                                            mnemo::blocks::hparam_bool(host, "tie_word_embeddings", true));
  for (int32_t i = 0; i < cfg.n_layers; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    Layer L;
    L.norm = require_shape(host, p + "norm.weight", {d});
    load_mixer(host, p + "mixer.", cfg, L.mixer);
    m.layers.push_back(std::move(L));
  }
  m.cfg = cfg;
  return m;
}

}  // namespace mamba

namespace {

const char* const kArchitectures[] = {"mamba", "mamba2", nullptr};

std::unique_ptr<mnemo::sdk::Model> create_model(const mnemo::sdk::Host& host, std::string_view /*options*/) {
  using namespace mamba;
  if (host.is_gguf()) throw PluginError(MNEMO_ERR_UNSUPPORTED, "the mamba plugin reads safetensors checkpoints only");
  const std::string arch = host.meta_string("model_type").value_or("");
  if (arch == "mamba") return make_mamba_model(host, load_mamba1(host));
  if (arch == "mamba2") return make_mamba_model(host, load_mamba2(host));
  throw PluginError(MNEMO_ERR_UNSUPPORTED, "the mamba plugin does not serve architecture '" + arch + "'");
}

}  // namespace

MNEMO_DEFINE_PLUGIN("mamba", "1.0.0", kArchitectures, create_model)

// Causal linear attention (Katharopoulos et al., 2020): o_t = Σ_{s≤t} φ(q_t)·φ(k_s) v_s, no decay,
// with φ = elu + 1 or the identity; fla's linear_attn model (q/k/v/o projections, a per-head
// RMSNorm "norm" on the output). No normaliser denominator, as fla's naive form.
#include "model.hpp"

namespace linear {

LinearModelDef load_linear_attn(const Host& host) {
  MixerConfig cfg;
  cfg.kind = "linear";
  refuse_short_conv(host, "linear_attn");
  read_heads(host, cfg, 1.f, 1.f);
  const std::string map = host.meta_string("feature_map").value_or("elu");
  if (map == "elu") cfg.feature_map = MNEMO_FEATURE_ELU_PLUS_ONE;
  else if (map == "identity") cfg.feature_map = MNEMO_FEATURE_IDENTITY;
  else throw PluginError(MNEMO_ERR_UNSUPPORTED, "linear_attn feature map '" + map + "' is not built (elu, identity)");
  return load_decoder(host, "linear_attn", cfg, [](const Host& h, const std::string& p, const MixerConfig& c, int64_t d, MixerWeights& w) {
    load_projections(h, p, c, d, w);
    w.output_norm = load_output_norm(h, p, "norm", c);
  });
}

}  // namespace linear

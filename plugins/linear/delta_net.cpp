// DeltaNet (Schlag et al., 2021; Yang et al., 2024): the delta rule
// S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ with q, k through SiLU then L2-normalised,
// v through SiLU, β = sigmoid(b_proj x), and a per-head RMSNorm "o_norm" on the output (fla's
// DeltaNet with use_gate false; short convolutions, when used, are causal conv1d + SiLU on q, k, v).
#include "model.hpp"

namespace linear {

LinearModelDef load_delta_net(const Host& host) {
  MixerConfig cfg;
  cfg.kind = "delta";
  read_heads(host, cfg, 1.f, 1.f);
  cfg.feature_map = MNEMO_FEATURE_SILU_L2;
  cfg.v_silu = true;
  // With fla's short convolutions (its default) the SiLU is the convolution's; L2 stays.
  read_short_conv(host, cfg, true);
  if (cfg.short_conv) {
    cfg.feature_map = MNEMO_FEATURE_L2;
    cfg.v_silu = false;
  }
  if (mnemo::blocks::hparam_bool(host, "use_gate", false))
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "delta_net with use_gate is not built");
  return load_decoder(host, "delta_net", cfg, [](const Host& h, const std::string& p, const MixerConfig& c, int64_t d, MixerWeights& w) {
    load_projections(h, p, c, d, w);
    w.beta = mnemo::blocks::require_shape(h, p + "b_proj.weight", {c.n_heads, d});
    w.output_norm = load_output_norm(h, p, "o_norm", c);
    if (c.short_conv) load_short_conv(h, p, c, w);
  });
}

}  // namespace linear

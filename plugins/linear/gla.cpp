// Gated Linear Attention (Yang et al., 2024): a data-dependent decay per token and key dim from
// a low-rank projection, log α_t = logsigmoid(gk_proj(x)) / 16 (fla's gate_logit_normalizer),
// keys at half the width (expand_k 0.5), and the output RMSNorm'd per head and gated by
// swish(g_proj x) (fla's GatedLinearAttention with its defaults).
#include "model.hpp"

namespace linear {

LinearModelDef load_gla(const Host& host) {
  MixerConfig cfg;
  cfg.kind = "gla";
  read_heads(host, cfg, 0.5f, 1.f);
  cfg.gate_normalizer = mnemo::blocks::hparam_float(host, {"gate_logit_normalizer"}, 16.f);
  cfg.output = OutputNorm::GatedNorm;
  if (host.meta_string("feature_map"))
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "GLA with a feature map is not built");
  read_short_conv(host, cfg, false);
  return load_decoder(host, "gla", cfg, [](const Host& h, const std::string& p, const MixerConfig& c, int64_t d, MixerWeights& w) {
    using mnemo::blocks::require_shape;
    load_projections(h, p, c, d, w);
    const int64_t kd = int64_t{c.n_heads} * c.head_k_dim, vd = int64_t{c.n_heads} * c.head_v_dim;
    w.gk_down = h.require(p + "gk_proj.0.weight");
    const int64_t rank = w.gk_down.dim(0);
    h.expect_shape(p + "gk_proj.0.weight", w.gk_down, {rank, d});
    w.gk_up = require_shape(h, p + "gk_proj.1.weight", {kd, rank});
    w.gk_up_bias = require_shape(h, p + "gk_proj.1.bias", {kd});
    w.output_gate = require_shape(h, p + "g_proj.weight", {vd, d});
    w.output_norm = load_output_norm(h, p, "g_norm_swish_gate", c);
    if (c.short_conv) load_short_conv(h, p, c, w);
  });
}

}  // namespace linear

// RetNet's multi-scale retention (Sun et al., 2023): a fixed decay per head,
// γ_h = 1 − 2^(−5−h), rotary q and k, and the output RMSNorm'd per head and gated by
// swish(g_proj x) (fla's MultiScaleRetention: expand_k 1, expand_v 2, g_norm_swish_gate).
#include <cmath>

#include "model.hpp"

namespace linear {

LinearModelDef load_retnet(const Host& host) {
  MixerConfig cfg;
  cfg.kind = "retnet";
  refuse_short_conv(host, "retnet");
  read_heads(host, cfg, 1.f, 2.f);
  cfg.rope = true;
  cfg.output = OutputNorm::GatedNorm;
  return load_decoder(host, "retnet", cfg, [](const Host& h, const std::string& p, const MixerConfig& c, int64_t d, MixerWeights& w) {
    load_projections(h, p, c, d, w);
    w.output_gate = mnemo::blocks::require_shape(h, p + "g_proj.weight", {int64_t{c.n_heads} * c.head_v_dim, d});
    w.output_norm = load_output_norm(h, p, "g_norm_swish_gate", c);
    float* decay = h.alloc_weight({c.n_heads}, &w.head_log_decay);
    for (int32_t i = 0; i < c.n_heads; ++i) decay[i] = static_cast<float>(std::log1p(-std::exp2(-5.0 - i)));
  });
}

}  // namespace linear

// Gated DeltaNet (Yang et al., 2025): the delta rule with a decay per head and token,
// α_t = exp(−exp(A_log) · softplus(a_proj(x) + dt_bias)), q, k through SiLU then L2-normalised,
// v through SiLU, β = sigmoid(b_proj x), and the output RMSNorm'd per head and gated by
// swish(g_proj x) (fla's GatedDeltaNet: head_dim keys, expand_v 2; short convolutions as in DeltaNet).
// With fla's `attn` config it is the hybrid: softmax attention on the layers listed there.
#include "model.hpp"

namespace linear {

LinearModelDef load_gated_deltanet(const Host& host) {
  MixerConfig cfg;
  cfg.kind = "gated_delta";
  cfg.n_heads = mnemo::blocks::hparam_int(host, {"num_heads"});
  cfg.head_k_dim = mnemo::blocks::hparam_int(host, {"head_dim"});
  if (const int32_t v_heads = mnemo::blocks::hparam_int_or(host, {"num_v_heads"}, cfg.n_heads); v_heads != cfg.n_heads)
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "gated_deltanet with num_v_heads != num_heads is not built");
  cfg.head_v_dim = static_cast<int32_t>(cfg.head_k_dim * mnemo::blocks::hparam_float(host, {"expand_v"}, 2.f));
  cfg.feature_map = MNEMO_FEATURE_SILU_L2;
  cfg.v_silu = true;
  cfg.output = mnemo::blocks::hparam_bool(host, "use_gate", true) ? OutputNorm::GatedNorm : OutputNorm::Norm;
  // With fla's short convolutions (its default) the SiLU is the convolution's; L2 stays.
  read_short_conv(host, cfg, true);
  if (cfg.short_conv) {
    cfg.feature_map = MNEMO_FEATURE_L2;
    cfg.v_silu = false;
  }
  return load_decoder(host, "gated_deltanet", cfg, [](const Host& h, const std::string& p, const MixerConfig& c, int64_t d,
                                                      MixerWeights& w) {
    using mnemo::blocks::require_shape;
    load_projections(h, p, c, d, w);
    w.a = require_shape(h, p + "a_proj.weight", {c.n_heads, d});
    w.beta = require_shape(h, p + "b_proj.weight", {c.n_heads, d});
    w.A_log = require_shape(h, p + "A_log", {c.n_heads});
    w.dt_bias = require_shape(h, p + "dt_bias", {c.n_heads});
    if (c.output == OutputNorm::GatedNorm)
      w.output_gate = require_shape(h, p + "g_proj.weight", {int64_t{c.n_heads} * c.head_v_dim, d});
    w.output_norm = load_output_norm(h, p, "o_norm", c);
    if (c.short_conv) load_short_conv(h, p, c, w);
  });
}

}  // namespace linear

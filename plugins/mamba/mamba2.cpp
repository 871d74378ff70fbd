// Mamba-2 (Dao & Gu, 2024), HF Mamba2ForCausalLM's mixer: in_proj to (z, xBC, dt), a causal
// depthwise conv1d with SiLU over xBC, the SSD scan per head with scalar A = −exp(A_log),
// Δ = softplus(dt + dt_bias) and the D skip, then the gated RMSNorm norm(y · silu(z)) per group
// of d_inner / n_groups channels, then out_proj.
#include "model.hpp"

namespace mamba {

MambaModelDef load_mamba2(const Host& host) {
  using mnemo::blocks::hparam_int;
  using mnemo::blocks::hparam_int_or;
  Config c;
  c.architecture = "mamba2";
  c.variant = Variant::Mamba2;
  const int32_t d = hparam_int(host, {"hidden_size"});
  c.d_state = hparam_int(host, {"state_size"});
  c.n_heads = hparam_int(host, {"num_heads"});
  c.head_dim = hparam_int(host, {"head_dim"});
  c.n_groups = hparam_int_or(host, {"n_groups"}, 1);
  c.conv_kernel = hparam_int(host, {"conv_kernel"});
  c.d_inner = c.n_heads * c.head_dim;
  if (c.d_inner != d * hparam_int_or(host, {"expand"}, c.d_inner / d))
    throw PluginError(MNEMO_ERR_INVALID, "num_heads × head_dim must equal expand × hidden_size");
  if (c.n_groups <= 0 || c.n_heads % c.n_groups != 0)
    throw PluginError(MNEMO_ERR_INVALID, "num_heads must be a multiple of n_groups");
  c.conv_dim = c.d_inner + 2 * c.n_groups * c.d_state;
  return load_backbone(host, c, [](const Host& h, const std::string& p, const Config& c, MixerWeights& w) {
    using mnemo::blocks::require_shape;
    const int64_t d = c.d_model, di = c.d_inner, H = c.n_heads;
    w.in_proj = require_shape(h, p + "in_proj.weight", {2 * di + 2 * c.n_groups * c.d_state + H, d});
    w.in_proj_bias = h.tensor(p + "in_proj.bias");
    w.conv = require_shape(h, p + "conv1d.weight", {c.conv_dim, 1, c.conv_kernel});
    w.conv_bias = h.tensor(p + "conv1d.bias");
    w.dt_bias = require_shape(h, p + "dt_bias", {H});
    w.A_log = require_shape(h, p + "A_log", {H});
    w.D = require_shape(h, p + "D", {H});
    w.out_proj = require_shape(h, p + "out_proj.weight", {d, di});
    w.out_proj_bias = h.tensor(p + "out_proj.bias");
    // The gated norm normalises each group of di / n_groups channels with its slice of the
    // weight: fp32 copies of the slices, one per group.
    const Weight norm = require_shape(h, p + "norm.weight", {di});
    std::vector<float> all(static_cast<size_t>(di));
    h.dequantize(norm, all.data());
    const int64_t gs = di / c.n_groups;
    for (int32_t g = 0; g < c.n_groups; ++g) {
      Weight slice;
      float* dst = h.alloc_weight({gs}, &slice);
      std::copy(all.begin() + g * gs, all.begin() + (g + 1) * gs, dst);
      w.norm_groups.push_back(slice);
    }
  });
}

}  // namespace mamba

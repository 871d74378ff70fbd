// Mamba-1 (Gu & Dao, 2023), HF MambaForCausalLM's mixer: in_proj to x and the gate z, a causal
// depthwise conv1d with SiLU on x, x_proj to (Δ low rank, B, C), dt_proj to Δ (its bias is the
// scan's Δ bias, through softplus), the selective scan with A = −exp(A_log) and the D skip, gated
// by silu(z), then out_proj.
#include <cmath>

#include "model.hpp"

namespace mamba {

MambaModelDef load_mamba1(const Host& host) {
  using mnemo::blocks::hparam_int;
  using mnemo::blocks::hparam_int_or;
  Config c;
  c.architecture = "mamba";
  c.variant = Variant::Mamba1;
  const int32_t d = hparam_int(host, {"hidden_size", "d_model"});
  c.d_state = hparam_int(host, {"state_size", "d_state"});
  c.d_inner = hparam_int_or(host, {"intermediate_size"}, d * hparam_int_or(host, {"expand"}, 2));
  c.conv_kernel = hparam_int(host, {"conv_kernel", "d_conv"});
  // HF writes "auto" as ceil(hidden / 16) when it saves a config; a string here means the same.
  c.dt_rank = hparam_int_or(host, {"time_step_rank", "dt_rank"}, (d + 15) / 16);
  c.conv_dim = c.d_inner;
  return load_backbone(host, c, [](const Host& h, const std::string& p, const Config& c, MixerWeights& w) {
    using mnemo::blocks::require_shape;
    const int64_t d = c.d_model, di = c.d_inner, n = c.d_state, r = c.dt_rank;
    w.in_proj = require_shape(h, p + "in_proj.weight", {2 * di, d});
    w.in_proj_bias = h.tensor(p + "in_proj.bias");
    w.conv = require_shape(h, p + "conv1d.weight", {di, 1, c.conv_kernel});
    w.conv_bias = h.tensor(p + "conv1d.bias");
    w.x_proj = require_shape(h, p + "x_proj.weight", {r + 2 * n, di});
    w.dt_proj = require_shape(h, p + "dt_proj.weight", {di, r});
    w.dt_proj_bias = require_shape(h, p + "dt_proj.bias", {di});
    w.A_log = require_shape(h, p + "A_log", {di, n});
    w.D = require_shape(h, p + "D", {di});
    w.out_proj = require_shape(h, p + "out_proj.weight", {d, di});
    w.out_proj_bias = h.tensor(p + "out_proj.bias");
  });
}

}  // namespace mamba

// The forward pass of both Mamba generations: embedding, blocks x += mixer(RMSNorm(x)), final
// norm, LM head. The convolution and the scan are host ops over the layer's recurrent memory
// (the host keeps the conv window and the SSM state, and publishes the probes).
#include <memory>
#include <string>

#include "model.hpp"

namespace mamba {
namespace {

using mnemo::sdk::cols;

class MambaModel final : public mnemo::sdk::Model {
 public:
  MambaModel(const Host& host, MambaModelDef def) : host_(host), def_(std::move(def)) {}

  mnemo_model_info info() const override {
    const Config& c = def_.cfg;
    mnemo_model_info i{};
    i.kind = MNEMO_MODEL_DECODER;
    i.n_layers = c.n_layers;
    i.d_model = c.d_model;
    i.n_heads = c.variant == Variant::Mamba2 ? c.n_heads : 0;
    i.n_kv_heads = i.n_heads;
    i.head_dim = c.variant == Variant::Mamba2 ? c.head_dim : 0;
    i.vocab_size = def_.ends.vocab_size;
    i.context_length = c.context_length;
    mnemo::sdk::copy_name(i.architecture, c.architecture);
    return i;
  }

  // Mamba-2: heads of [head_dim][d_state]. Mamba-1 has no heads; it shows its channels in groups
  // of kMamba1ChannelsPerHead as "heads" of [channels][d_state] (one group when d_inner does not
  // divide), so that a head's map (the mean over its channels, recomputed per tile by the reader)
  // and its state statistics stay the size of a Mamba-2 head's instead of spanning the layer.
  mnemo_layer_desc layer(int32_t index) const override {
    if (index < 0 || index >= def_.cfg.n_layers) throw PluginError(MNEMO_ERR_INVALID, "no layer " + std::to_string(index));
    const Config& c = def_.cfg;
    if (c.variant == Variant::Mamba1) {
      constexpr int32_t kMamba1ChannelsPerHead = 64;
      const int32_t per_head = c.d_inner % kMamba1ChannelsPerHead == 0 ? kMamba1ChannelsPerHead : c.d_inner;
      return mnemo::sdk::recurrent_layer("mamba1", c.d_inner / per_head, c.d_state, per_head, per_head, c.d_state,
                                         c.conv_kernel, c.conv_dim);
    }
    return mnemo::sdk::recurrent_layer("mamba2", c.n_heads, c.d_state, c.head_dim, c.head_dim, c.d_state, c.conv_kernel,
                                       c.conv_dim);
  }

  void forward(const mnemo_forward_args& a) override {
    const int64_t t = a.n_tokens, d = def_.cfg.d_model;
    const Weight none;
    const View x = host_.scratch(t, d), xn = host_.scratch(t, d), sub = host_.scratch(t, d);
    host_.set_layer(-1);
    def_.ends.embed_tokens(host_, a, x);
    for (int32_t l = 0; l < def_.cfg.n_layers; ++l) {
      const Layer& L = def_.layers[static_cast<size_t>(l)];
      host_.set_layer(l);
      host_.norm(MNEMO_NORM_RMS, x, L.norm, none, def_.ends.norm_eps, xn);
      if (def_.cfg.variant == Variant::Mamba1) mamba1(l, L.mixer, xn, sub);
      else mamba2(l, L.mixer, xn, sub);
      host_.add(x, sub);
      host_.probe_residual(l, x);
    }
    host_.set_layer(-1);
    def_.ends.finish(host_, a, x);
  }

 private:
  void mamba1(int32_t l, const MixerWeights& w, const View& x, const View& out) {
    const Config& c = def_.cfg;
    const int64_t t = x.rows, di = c.d_inner, n = c.d_state, r = c.dt_rank;
    const Weight none;
    const View xz = host_.scratch(t, 2 * di);
    host_.matmul(x, w.in_proj, w.in_proj_bias, xz);
    const View xc = host_.scratch(t, di);
    host_.causal_conv1d(l, cols(xz, 0, di), w.conv, w.conv_bias, true, xc);
    const View dbc = host_.scratch(t, r + 2 * n), dt = host_.scratch(t, di), y = host_.scratch(t, di);
    host_.matmul(xc, w.x_proj, none, dbc);
    host_.matmul(cols(dbc, 0, r), w.dt_proj, none, dt);
    mnemo_ssm_args s{};
    s.x = xc, s.dt = dt, s.dt_bias = w.dt_proj_bias.ptr(), s.A_log = w.A_log.ptr();
    s.B = cols(dbc, r, n), s.C = cols(dbc, r + n, n), s.D = w.D.ptr(), s.z = cols(xz, di, di);
    s.n_groups = 1, s.out = y;
    host_.ssm_scan(l, s);
    host_.matmul(y, w.out_proj, w.out_proj_bias, out);
  }

  void mamba2(int32_t l, const MixerWeights& w, const View& x, const View& out) {
    const Config& c = def_.cfg;
    const int64_t t = x.rows, di = c.d_inner, gn = int64_t{c.n_groups} * c.d_state, H = c.n_heads;
    const View proj = host_.scratch(t, 2 * di + 2 * gn + H);
    host_.matmul(x, w.in_proj, w.in_proj_bias, proj);
    const View z = cols(proj, 0, di), dt = cols(proj, 2 * di + 2 * gn, H);
    const View xbc = host_.scratch(t, c.conv_dim), y = host_.scratch(t, di);
    host_.causal_conv1d(l, cols(proj, di, c.conv_dim), w.conv, w.conv_bias, true, xbc);
    mnemo_ssm_args s{};
    s.x = cols(xbc, 0, di), s.dt = dt, s.dt_bias = w.dt_bias.ptr(), s.A_log = w.A_log.ptr();
    s.B = cols(xbc, di, gn), s.C = cols(xbc, di + gn, gn), s.D = w.D.ptr();
    s.n_groups = c.n_groups, s.out = y;
    host_.ssm_scan(l, s);
    // Gated RMSNorm: norm(y · silu(z)) over each group of channels.
    host_.gated(MNEMO_ACT_SILU, z, y, y);
    const int64_t gs = di / c.n_groups;
    const Weight none;
    for (int32_t g = 0; g < c.n_groups; ++g)
      host_.norm(MNEMO_NORM_RMS, cols(y, g * gs, gs), w.norm_groups[static_cast<size_t>(g)], none, def_.ends.norm_eps,
                 cols(y, g * gs, gs));
    host_.matmul(y, w.out_proj, w.out_proj_bias, out);
  }

  Host host_;
  MambaModelDef def_;
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_mamba_model(const Host& host, MambaModelDef def) {
  return std::make_unique<MambaModel>(host, std::move(def));
}

}  // namespace mamba

// The forward pass of every linear-plugin architecture: embedding, then pre-norm blocks
//   x += mixer(attn_norm(x));  x += mlp(mlp_norm(x))
// then the final norm and the LM head. The mixer is the host's linear_mixer op (the host keeps
// the state and publishes the probes) between the layer's projections and its output norm, or
// the host's softmax attention on a hybrid's attention layers.
#include <cmath>
#include <memory>
#include <string>

#include "model.hpp"

namespace linear {
namespace {

class LinearModel final : public mnemo::sdk::Model {
 public:
  LinearModel(const Host& host, LinearModelDef def) : host_(host), def_(std::move(def)) {}

  mnemo_model_info info() const override {
    const MixerConfig& c = def_.mixer;
    mnemo_model_info i{};
    i.kind = MNEMO_MODEL_DECODER;
    i.n_layers = def_.n_layers;
    i.d_model = def_.d_model;
    i.n_heads = c.n_heads;
    i.n_kv_heads = c.n_heads;
    i.head_dim = c.head_k_dim;
    i.d_ff = def_.layers.empty() ? 0 : def_.layers[0].mlp.d_ff;
    i.vocab_size = def_.ends.vocab_size;
    i.context_length = def_.context_length;
    mnemo::sdk::copy_name(i.architecture, def_.architecture);
    return i;
  }

  mnemo_layer_desc layer(int32_t index) const override {
    if (index < 0 || index >= def_.n_layers) throw PluginError(MNEMO_ERR_INVALID, "no layer " + std::to_string(index));
    const Layer& L = def_.layers[static_cast<size_t>(index)];
    if (L.softmax) return L.attention.layer();
    const MixerConfig& c = def_.mixer;
    const int32_t conv_channels = c.n_heads * (2 * c.head_k_dim + c.head_v_dim);
    return mnemo::sdk::recurrent_layer(c.kind, c.n_heads, c.head_k_dim, c.head_v_dim, c.head_k_dim, c.head_v_dim,
                                       c.short_conv, conv_channels);
  }

  void forward(const mnemo_forward_args& a) override {
    const int64_t t = a.n_tokens, d = def_.d_model;
    const Weight none;
    const View x = host_.scratch(t, d), xn = host_.scratch(t, d), sub = host_.scratch(t, d);
    host_.set_layer(-1);
    def_.ends.embed_tokens(host_, a, x);
    int32_t d_ff = 0;
    for (const Layer& L : def_.layers) d_ff = std::max(d_ff, L.mlp.d_ff);
    const View h = host_.scratch(t, d_ff), g = host_.scratch(t, d_ff);
    for (int32_t l = 0; l < def_.n_layers; ++l) {
      const Layer& L = def_.layers[static_cast<size_t>(l)];
      host_.set_layer(l);
      host_.norm(MNEMO_NORM_RMS, x, L.attn_norm, none, def_.ends.norm_eps, xn);
      if (L.softmax) L.attention.run(host_, l, xn, sub);
      else mix(l, L.mixer, xn, sub);
      host_.add(x, sub);
      host_.norm(MNEMO_NORM_RMS, x, L.mlp_norm, none, def_.ends.norm_eps, xn);
      const View hl = mnemo::sdk::cols(h, 0, L.mlp.d_ff), gl = mnemo::sdk::cols(g, 0, L.mlp.d_ff);
      L.mlp.run(host_, xn, hl, gl, sub);
      host_.add(x, sub);
      host_.probe_residual(l, x);
    }
    host_.set_layer(-1);
    def_.ends.finish(host_, a, x);
  }

 private:
  // The recurrent mixer of layer l: projections, the host's linear_mixer, the output norm (and
  // gate), the output projection.
  void mix(int32_t l, const MixerWeights& w, const View& x, const View& out) {
    const MixerConfig& c = def_.mixer;
    const int64_t t = x.rows, H = c.n_heads, kd = H * c.head_k_dim, vd = H * c.head_v_dim;
    const Weight none;
    // q, k, v side by side in one row, so that the short convolution (when there is one) runs
    // over all three at once.
    const View qkv = host_.scratch(t, 2 * kd + vd), o = host_.scratch(t, vd);
    View q = mnemo::sdk::cols(qkv, 0, kd), k = mnemo::sdk::cols(qkv, kd, kd), v = mnemo::sdk::cols(qkv, 2 * kd, vd);
    host_.matmul_many(x, {{&w.q, &none, q}, {&w.k, &none, k}, {&w.v, &none, v}});
    if (c.short_conv) {
      const View conv = host_.scratch(t, 2 * kd + vd);
      host_.causal_conv1d(l, qkv, w.conv, w.conv_bias, true, conv);
      q = mnemo::sdk::cols(conv, 0, kd), k = mnemo::sdk::cols(conv, kd, kd), v = mnemo::sdk::cols(conv, 2 * kd, vd);
    }
    if (c.v_silu) host_.activate(MNEMO_ACT_SILU, v);
    if (c.rope) {
      host_.rope(q, c.n_heads, c.head_k_dim, c.head_k_dim, c.rope_theta, MNEMO_ROPE_NEOX);
      host_.rope(k, c.n_heads, c.head_k_dim, c.head_k_dim, c.rope_theta, MNEMO_ROPE_NEOX);
    }
    mnemo_linear_mixer_args args{};
    args.q = q, args.k = k, args.v = v, args.out = o;
    args.feature_map = c.feature_map;
    args.scale = 1.0f / std::sqrt(static_cast<float>(c.head_k_dim));
    args.gate_normalizer = c.gate_normalizer;
    if (!w.gk_down.empty()) {  // GLA: gk = gk_proj.1(gk_proj.0(x)), low rank
      const View low = host_.scratch(t, w.gk_down.dim(0));
      args.gate = host_.scratch(t, kd);
      host_.matmul(x, w.gk_down, none, low);
      host_.matmul(low, w.gk_up, w.gk_up_bias, args.gate);
    }
    if (!w.a.empty()) {  // Gated DeltaNet: a_proj, then the host's −exp(A_log)·softplus(a + dt_bias)
      args.gate = host_.scratch(t, H);
      host_.matmul(x, w.a, none, args.gate);
      args.A_log = w.A_log.ptr();
      args.dt_bias = w.dt_bias.ptr();
    }
    if (!w.beta.empty()) {
      args.beta = host_.scratch(t, H);
      host_.matmul(x, w.beta, none, args.beta);
    }
    args.head_log_decay = w.head_log_decay.ptr();
    host_.linear_mixer(l, args);

    // Per head: RMSNorm over the head's values (rows of head_v_dim), then the output gate.
    const View heads = mnemo::sdk::reshape(o, c.head_v_dim);
    host_.norm(MNEMO_NORM_RMS, heads, w.output_norm, none, def_.ends.norm_eps, heads);
    if (c.output == OutputNorm::GatedNorm) {
      const View gate = host_.scratch(t, vd);
      host_.matmul(x, w.output_gate, none, gate);
      host_.gated(MNEMO_ACT_SILU, gate, o, o);
    }
    host_.matmul(o, w.o, none, out);
  }

  Host host_;
  LinearModelDef def_;
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_linear_model(const Host& host, LinearModelDef def) {
  return std::make_unique<LinearModel>(host, std::move(def));
}

}  // namespace linear

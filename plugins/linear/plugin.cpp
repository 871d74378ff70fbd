// The linear plugin's entry point and the decoder frame its architectures share. Tensor and
// config names follow flash-linear-attention's models (model.layers.<i>.attn.*, attn_norm,
// mlp_norm, model.embeddings, model.norm), so that fla checkpoints of these sizes load.
#include <string>
#include <utility>

#include "model.hpp"

namespace linear {

using mnemo::blocks::hparam_bool;
using mnemo::blocks::hparam_float;
using mnemo::blocks::hparam_int;
using mnemo::blocks::hparam_int_or;
using mnemo::blocks::require_shape;

void read_short_conv(const Host& host, MixerConfig& cfg, bool fla_default) {
  if (hparam_bool(host, "use_short_conv", fla_default)) cfg.short_conv = hparam_int_or(host, {"conv_size"}, 4);
  if (cfg.short_conv == 1) throw PluginError(MNEMO_ERR_INVALID, "conv_size must be at least 2");
}

void refuse_short_conv(const Host& host, const char* architecture) {
  if (hparam_bool(host, "use_short_conv", false))
    throw PluginError(MNEMO_ERR_UNSUPPORTED, std::string(architecture) + " with use_short_conv is not built");
}

void load_short_conv(const Host& host, const std::string& prefix, const MixerConfig& cfg, MixerWeights& w) {
  // One convolution over [q | k | v] rows: the host keeps one window per layer, and the three
  // depthwise convolutions are independent per channel, so concatenating them changes nothing.
  const int64_t kd = int64_t{cfg.n_heads} * cfg.head_k_dim, vd = int64_t{cfg.n_heads} * cfg.head_v_dim, K = cfg.short_conv;
  const std::pair<const char*, int64_t> parts[] = {{"q_conv1d", kd}, {"k_conv1d", kd}, {"v_conv1d", vd}};
  float* weight = host.alloc_weight({2 * kd + vd, K}, &w.conv);
  const bool biased = !host.tensor(prefix + "q_conv1d.bias").empty();
  float* bias = biased ? host.alloc_weight({2 * kd + vd}, &w.conv_bias) : nullptr;
  for (const auto& [name, channels] : parts) {
    host.dequantize(require_shape(host, prefix + name + ".weight", {channels, 1, K}), weight);
    weight += channels * K;
    if (biased) {
      host.dequantize(require_shape(host, prefix + name + ".bias", {channels}), bias);
      bias += channels;
    }
  }
}

void load_projections(const Host& host, const std::string& prefix, const MixerConfig& cfg, int64_t d, MixerWeights& w) {
  const int64_t kd = int64_t{cfg.n_heads} * cfg.head_k_dim, vd = int64_t{cfg.n_heads} * cfg.head_v_dim;
  w.q = require_shape(host, prefix + "q_proj.weight", {kd, d});
  w.k = require_shape(host, prefix + "k_proj.weight", {kd, d});
  w.v = require_shape(host, prefix + "v_proj.weight", {vd, d});
  w.o = require_shape(host, prefix + "o_proj.weight", {d, vd});
}

Weight load_output_norm(const Host& host, const std::string& prefix, const char* name, const MixerConfig& cfg) {
  return require_shape(host, prefix + name + ".weight", {cfg.head_v_dim});
}

void read_heads(const Host& host, MixerConfig& cfg, float expand_k, float expand_v) {
  const int32_t d = hparam_int(host, {"hidden_size"});
  cfg.n_heads = hparam_int(host, {"num_heads"});
  const float ek = hparam_float(host, {"expand_k"}, expand_k), ev = hparam_float(host, {"expand_v"}, expand_v);
  const int32_t kd = static_cast<int32_t>(d * ek), vd = static_cast<int32_t>(d * ev);
  if (cfg.n_heads <= 0 || kd % cfg.n_heads != 0 || vd % cfg.n_heads != 0)
    throw PluginError(MNEMO_ERR_INVALID, "key width " + std::to_string(kd) + " and value width " + std::to_string(vd) +
                                             " do not split into " + std::to_string(cfg.n_heads) + " heads");
  if (const int32_t kv = hparam_int_or(host, {"num_kv_heads"}, cfg.n_heads); kv != cfg.n_heads)
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "shared key/value heads (num_kv_heads " + std::to_string(kv) + " of " +
                                                 std::to_string(cfg.n_heads) + ") are not built in the linear plugin");
  cfg.head_k_dim = kd / cfg.n_heads;
  cfg.head_v_dim = vd / cfg.n_heads;
}

LinearModelDef load_decoder(const Host& host, const std::string& architecture, MixerConfig mixer, MixerLoader load_mixer) {
  LinearModelDef m;
  m.architecture = architecture;
  m.mixer = mixer;
  m.n_layers = hparam_int(host, {"num_hidden_layers"});
  m.d_model = hparam_int(host, {"hidden_size"});
  m.context_length = hparam_int_or(host, {"max_position_embeddings"}, 2048);
  const int64_t d = m.d_model;

  m.ends = mnemo::blocks::DecoderEnds::load(host, m.d_model, "model.embeddings.weight", "model.norm.weight",
                                            hparam_float(host, {"norm_eps"}, 1e-6f),
                                            hparam_bool(host, "tie_word_embeddings", false));

  // fla's hybrids: config.attn = {layers: [...], num_heads, num_kv_heads, rope_theta}.
  std::vector<bool> softmax(static_cast<size_t>(m.n_layers), false);
  for (int i = 0;; ++i) {
    const auto l = host.meta_int("attn.layers." + std::to_string(i));
    if (!l) break;
    if (*l < 0 || *l >= m.n_layers) throw PluginError(MNEMO_ERR_INVALID, "attn.layers lists layer " + std::to_string(*l));
    softmax[static_cast<size_t>(*l)] = true;
  }
  if (hparam_bool(host, "attn.qkv_bias", false) || host.meta_int("attn.window_size"))
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "hybrid attention layers with qkv_bias or window_size are not built");
  const int32_t attn_heads = hparam_int_or(host, {"attn.num_heads"}, mixer.n_heads);
  const int32_t attn_kv_heads = hparam_int_or(host, {"attn.num_kv_heads"}, attn_heads);
  const float attn_theta = hparam_float(host, {"attn.rope_theta"}, 10000.f);

  for (int32_t i = 0; i < m.n_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    Layer L;
    L.softmax = softmax[static_cast<size_t>(i)];
    L.attn_norm = require_shape(host, p + "attn_norm.weight", {d});
    L.mlp_norm = require_shape(host, p + "mlp_norm.weight", {d});
    const Weight up = host.require(p + "mlp.up_proj.weight");
    L.mlp = mnemo::blocks::SwiGlu::load(host, p + "mlp.", d, up.dim(0));
    if (L.softmax) {
      if (attn_heads <= 0 || d % attn_heads != 0)
        throw PluginError(MNEMO_ERR_INVALID, "attn.num_heads must divide hidden_size");
      L.attention = mnemo::blocks::SoftmaxAttention::load(host, p + "attn.", d, attn_heads, attn_kv_heads,
                                                          static_cast<int32_t>(d / attn_heads), attn_theta);
    } else {
      load_mixer(host, p + "attn.", m.mixer, d, L.mixer);
    }
    m.layers.push_back(std::move(L));
  }
  return m;
}

}  // namespace linear

namespace {

// fla's model_type names; the linear plugin serves each with one architecture file.
const char* const kArchitectures[] = {"linear_attn", "retnet", "gla", "delta_net", "gated_deltanet", nullptr};

std::unique_ptr<mnemo::sdk::Model> create_model(const mnemo::sdk::Host& host, std::string_view /*options*/) {
  using namespace linear;
  if (host.is_gguf()) throw PluginError(MNEMO_ERR_UNSUPPORTED, "the linear plugin reads safetensors checkpoints only");
  const std::string arch = host.meta_string("model_type").value_or("");
  if (arch == "linear_attn") return make_linear_model(host, load_linear_attn(host));
  if (arch == "retnet") return make_linear_model(host, load_retnet(host));
  if (arch == "gla") return make_linear_model(host, load_gla(host));
  if (arch == "delta_net") return make_linear_model(host, load_delta_net(host));
  if (arch == "gated_deltanet") return make_linear_model(host, load_gated_deltanet(host));
  throw PluginError(MNEMO_ERR_UNSUPPORTED, "the linear plugin does not serve architecture '" + arch + "'");
}

}  // namespace

MNEMO_DEFINE_PLUGIN("linear", "1.0.0", kArchitectures, create_model)

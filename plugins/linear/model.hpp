// What an architecture file of the linear plugin produces: the hyperparameters and weights of a
// decoder of fla's shape (pre-norm blocks: RMSNorm, token mixer, RMSNorm, SwiGLU MLP), whose
// token mixers are a linear-attention family, or softmax attention on the layers fla's `attn`
// config lists (hybrids). forward.cpp runs any LinearModelDef.
#pragma once

#include <string>
#include <vector>

#include "../shared/blocks.hpp"

namespace linear {

using mnemo::blocks::Host;
using mnemo::blocks::PluginError;
using mnemo::blocks::View;
using mnemo::blocks::Weight;

// How a mixer's output becomes the block's: per head RMSNorm (as fla's o_norm), or RMSNorm times
// silu(g_proj(x)) (fla's FusedRMSNormGated, "g_norm_swish_gate" / gated "o_norm").
enum class OutputNorm { Norm, GatedNorm };

struct MixerConfig {
  std::string kind;  // the mixer kind the host registers: linear, retnet, gla, delta, gated_delta
  int32_t n_heads = 0, head_k_dim = 0, head_v_dim = 0;
  int32_t feature_map = MNEMO_FEATURE_IDENTITY;
  bool v_silu = false;           // DeltaNet, Gated DeltaNet without short convolutions: v = silu(v_proj x)
  bool rope = false;             // RetNet: rotary q and k
  float rope_theta = 10000.f;
  float gate_normalizer = 1.f;   // GLA: log gate = logsigmoid(gk) / normalizer
  int32_t short_conv = 0;        // fla's use_short_conv: width of the causal conv (+SiLU) on q, k, v; 0 none
  OutputNorm output = OutputNorm::Norm;
};

struct MixerWeights {
  Weight q, k, v, o;
  Weight output_gate;                  // g_proj, GatedNorm only
  Weight output_norm;                  // [head_v_dim]
  Weight gk_down, gk_up, gk_up_bias;   // GLA's low-rank gate projection (gk_proj.0, gk_proj.1)
  Weight beta;                         // b_proj: delta rules
  Weight a, A_log, dt_bias;            // Gated DeltaNet's decay
  Weight head_log_decay;               // RetNet: log γ_h, computed at load
  Weight conv, conv_bias;              // short conv: q_conv1d, k_conv1d, v_conv1d as one [2·kd + vd][K] fp32 weight
};

struct Layer {
  bool softmax = false;  // a hybrid's attention layer
  mnemo::blocks::SoftmaxAttention attention;
  MixerWeights mixer;
  Weight attn_norm, mlp_norm;
  mnemo::blocks::SwiGlu mlp;
};

struct LinearModelDef {
  std::string architecture;
  int32_t n_layers = 0, d_model = 0, context_length = 0;
  MixerConfig mixer;
  mnemo::blocks::DecoderEnds ends;
  std::vector<Layer> layers;
};

// Reads what every architecture shares (embedding, norms, MLP, LM head, the softmax layers of
// fla's `attn` config) and calls load_mixer for each recurrent layer with its weight prefix
// ("model.layers.<i>.attn.").
using MixerLoader = void (*)(const Host& host, const std::string& prefix, const MixerConfig& cfg, int64_t d_model,
                             MixerWeights& out);
LinearModelDef load_decoder(const Host& host, const std::string& architecture, MixerConfig mixer, MixerLoader load_mixer);

// fla's use_short_conv (its default differs per layer): sets cfg.short_conv to conv_size, and
// load_short_conv reads the three convolutions of a layer as one.
void read_short_conv(const Host& host, MixerConfig& cfg, bool fla_default);
void load_short_conv(const Host& host, const std::string& prefix, const MixerConfig& cfg, MixerWeights& w);
// For the architectures that do not wire them (linear_attn, retnet): refused by name.
void refuse_short_conv(const Host& host, const char* architecture);

// q_proj, k_proj, v_proj, o_proj (no biases) of a mixer with cfg's heads and widths.
void load_projections(const Host& host, const std::string& prefix, const MixerConfig& cfg, int64_t d_model, MixerWeights& w);
// The mixer's output norm: "<prefix><name>.weight" over one head's values.
Weight load_output_norm(const Host& host, const std::string& prefix, const char* name, const MixerConfig& cfg);
// Heads and per-head widths from fla's expand_k / expand_v (or head_dim) keys.
void read_heads(const Host& host, MixerConfig& cfg, float expand_k, float expand_v);

// One per architecture file.
LinearModelDef load_linear_attn(const Host& host);
LinearModelDef load_retnet(const Host& host);
LinearModelDef load_gla(const Host& host);
LinearModelDef load_delta_net(const Host& host);
LinearModelDef load_gated_deltanet(const Host& host);

std::unique_ptr<mnemo::sdk::Model> make_linear_model(const Host& host, LinearModelDef def);

}  // namespace linear

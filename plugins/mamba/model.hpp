// What an architecture file of the mamba plugin produces: a decoder of Hugging Face's Mamba
// layout (backbone.embeddings, backbone.layers.<i>.{norm, mixer}, backbone.norm_f, lm_head),
// each block x += mixer(RMSNorm(x)) with no MLP. forward.cpp runs either mixer.
#pragma once

#include <string>
#include <vector>

#include "../shared/blocks.hpp"

namespace mamba {

using mnemo::blocks::Host;
using mnemo::blocks::PluginError;
using mnemo::blocks::View;
using mnemo::blocks::Weight;

enum class Variant { Mamba1, Mamba2 };

struct Config {
  std::string architecture;
  Variant variant = Variant::Mamba1;
  int32_t n_layers = 0, d_model = 0, context_length = 0;
  int32_t d_inner = 0, d_state = 0, conv_kernel = 4;
  int32_t dt_rank = 0;                             // Mamba-1: x_proj's Δ rank
  int32_t n_heads = 0, head_dim = 0, n_groups = 1;  // Mamba-2
  int32_t conv_dim = 0;                            // channels the convolution runs over
};

struct MixerWeights {
  Weight in_proj, in_proj_bias, conv, conv_bias, out_proj, out_proj_bias;
  Weight x_proj, dt_proj, dt_proj_bias;  // Mamba-1 (dt_proj's bias is the scan's Δ bias)
  Weight dt_bias;                        // Mamba-2
  Weight A_log, D;
  std::vector<Weight> norm_groups;       // Mamba-2's gated RMSNorm, one fp32 slice per group
};

struct Layer {
  Weight norm;
  MixerWeights mixer;
};

struct MambaModelDef {
  Config cfg;
  mnemo::blocks::DecoderEnds ends;
  std::vector<Layer> layers;
};

// The shared frame (embedding, per-layer norm, final norm, LM head) and, per layer, load_mixer
// with the mixer's prefix ("backbone.layers.<i>.mixer.").
using MixerLoader = void (*)(const Host& host, const std::string& prefix, const Config& cfg, MixerWeights& out);
MambaModelDef load_backbone(const Host& host, Config cfg, MixerLoader load_mixer);

MambaModelDef load_mamba1(const Host& host);
MambaModelDef load_mamba2(const Host& host);

std::unique_ptr<mnemo::sdk::Model> make_mamba_model(const Host& host, MambaModelDef def);

}  // namespace mamba

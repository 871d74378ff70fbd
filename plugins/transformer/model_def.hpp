// What an architecture file produces: the hyperparameters and the weights of a transformer, in
// one shape shared by every family this plugin serves. forward.cpp runs any ModelDef.
#pragma once

#include <string>
#include <vector>

#include "mnemo/plugin_sdk.hpp"

namespace transformer {

using mnemo::sdk::Host;
using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using mnemo::sdk::Weight;

struct Config {
  std::string architecture;
  int32_t kind = MNEMO_MODEL_DECODER;
  int32_t n_layers = 0, d_model = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, d_ff = 0;
  int32_t vocab_size = 0, context_length = 0;
  int32_t norm = MNEMO_NORM_LAYER;
  float norm_eps = 1e-5f;
  int32_t activation = MNEMO_ACT_GELU_TANH;
  bool gated_ffn = false;       // SwiGLU: down(act(gate(x)) * up(x))
  bool post_norm = false;       // BERT: x = norm(x + sublayer(x)); otherwise x += sublayer(norm(x))
  bool rope = false;
  int32_t rope_mode = MNEMO_ROPE_INTERLEAVED;
  int32_t n_rot = 0;
  float rope_theta = 10000.f;
  std::string mask = "causal";  // the registered mask pattern of every layer
  int32_t window = 0;           // mask "window": positions each query sees, its own included
};

struct LayerWeights {
  Weight attn_norm, attn_norm_b;
  Weight q, q_b, k, k_b, v, v_b;  // separate projections, or
  Weight qkv, qkv_b;              // one fused projection [q; k; v]
  Weight o, o_b;
  Weight ffn_norm, ffn_norm_b;
  Weight gate, gate_b, up, up_b, down, down_b;
};

struct Weights {
  Weight tok_embd, pos_embd, type_embd;
  Weight embd_norm, embd_norm_b;  // BERT: LayerNorm after the embeddings
  Weight out_norm, out_norm_b;    // pre-norm decoders: final norm
  Weight lm_head;                 // decoders; the embedding table when tied
  std::vector<LayerWeights> layers;
};

struct ModelDef {
  Config cfg;
  Weights w;
};

// One per architecture file.
ModelDef load_gpt2(const Host& host);
ModelDef load_llama(const Host& host);
// Mistral's Hugging Face layout: Llama's, and attention within config.sliding_window positions
// (none when the key is null or absent).
ModelDef load_mistral(const Host& host);
ModelDef load_bert(const Host& host);

// Checks shapes every family shares (projections, norms, FFN), so architecture files only
// name tensors and read hyperparameters.
void validate(const ModelDef& def);

// Reads an integer hyperparameter under the first of `keys` that exists; the error names them all.
int32_t hparam_int(const Host& host, std::initializer_list<const char*> keys);
float hparam_float(const Host& host, std::initializer_list<const char*> keys, float fallback);

// Derives what GPT-2 and BERT leave implicit: plain multi-head attention (KV heads = heads,
// head_dim = d_model / heads), the vocabulary from the embedding table, and a context no longer
// than the learned position table.
void finish_learned_position_mha(ModelDef& m);

// `base.weight` (required) and `base.bias` (optional): a linear layer or a norm.
void affine(const Host& host, const std::string& base, Weight& weight, Weight& bias);

// A fp32 copy of w transposed ([a][b] → [b][a]); for checkpoints that store projections as
// [in][out] (GPT-2's Conv1D in Hugging Face files).
Weight transposed(const Host& host, const Weight& w, const char* name);

}  // namespace transformer

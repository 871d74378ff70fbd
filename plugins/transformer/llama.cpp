// The Llama family (Llama 2/3, SmolLM2, TinyLlama, ...): RMSNorm, RoPE, SwiGLU, GQA/MQA.
// GGUF files come from llama.cpp's converter, which permutes the Q and K rows so that RoPE
// rotates adjacent pairs; Hugging Face files keep rotate_half, so the two use different modes.
#include "model_def.hpp"

namespace transformer {
namespace {

std::string blk(int l, const char* name) { return "blk." + std::to_string(l) + "." + name; }
std::string hf(int l, const char* name) { return "model.layers." + std::to_string(l) + "." + name; }

void read_gguf(const Host& host, ModelDef& m) {
  Config& c = m.cfg;
  c.n_layers = hparam_int(host, {"llama.block_count"});
  c.d_model = hparam_int(host, {"llama.embedding_length"});
  c.n_heads = hparam_int(host, {"llama.attention.head_count"});
  c.n_kv_heads = host.meta_int("llama.attention.head_count_kv") ? hparam_int(host, {"llama.attention.head_count_kv"}) : c.n_heads;
  c.d_ff = hparam_int(host, {"llama.feed_forward_length"});
  c.context_length = hparam_int(host, {"llama.context_length"});
  c.head_dim = host.meta_int("llama.attention.key_length") ? hparam_int(host, {"llama.attention.key_length"}) : c.d_model / c.n_heads;
  c.n_rot = host.meta_int("llama.rope.dimension_count") ? hparam_int(host, {"llama.rope.dimension_count"}) : c.head_dim;
  c.norm_eps = hparam_float(host, {"llama.attention.layer_norm_rms_epsilon"}, 1e-5f);
  c.rope_theta = hparam_float(host, {"llama.rope.freq_base"}, 10000.f);
  c.rope_mode = MNEMO_ROPE_INTERLEAVED;
  if (auto scaling = host.meta_string("llama.rope.scaling.type"); scaling && *scaling != "none")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "RoPE scaling '" + *scaling + "' is not supported yet");

  Weights& w = m.w;
  w.tok_embd = host.require("token_embd.weight");
  w.out_norm = host.require("output_norm.weight");
  w.lm_head = host.tensor("output.weight");
  if (w.lm_head.empty()) w.lm_head = w.tok_embd;  // tied embeddings
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.attn_norm = host.require(blk(l, "attn_norm.weight"));
    affine(host, blk(l, "attn_q"), L.q, L.q_b);  // Qwen-style checkpoints carry biases
    affine(host, blk(l, "attn_k"), L.k, L.k_b);
    affine(host, blk(l, "attn_v"), L.v, L.v_b);
    L.o = host.require(blk(l, "attn_output.weight"));
    L.ffn_norm = host.require(blk(l, "ffn_norm.weight"));
    L.gate = host.require(blk(l, "ffn_gate.weight"));
    L.up = host.require(blk(l, "ffn_up.weight"));
    L.down = host.require(blk(l, "ffn_down.weight"));
    w.layers.push_back(L);
  }
}

void read_hf(const Host& host, ModelDef& m) {
  Config& c = m.cfg;
  c.n_layers = hparam_int(host, {"num_hidden_layers"});
  c.d_model = hparam_int(host, {"hidden_size"});
  c.n_heads = hparam_int(host, {"num_attention_heads"});
  c.n_kv_heads = host.meta_int("num_key_value_heads") ? hparam_int(host, {"num_key_value_heads"}) : c.n_heads;
  c.d_ff = hparam_int(host, {"intermediate_size"});
  c.context_length = hparam_int(host, {"max_position_embeddings"});
  c.head_dim = host.meta_int("head_dim") ? hparam_int(host, {"head_dim"}) : c.d_model / c.n_heads;
  c.n_rot = c.head_dim;
  c.norm_eps = hparam_float(host, {"rms_norm_eps"}, 1e-6f);
  c.rope_theta = hparam_float(host, {"rope_theta"}, 10000.f);
  c.rope_mode = MNEMO_ROPE_NEOX;
  if (auto act = host.meta_string("hidden_act"); act && *act != "silu")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "hidden_act '" + *act + "' is not supported for llama (expected silu)");
  if (auto type = host.meta_string("rope_scaling.rope_type"); type && *type != "default")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "rope_scaling '" + *type + "' is not supported yet");

  Weights& w = m.w;
  w.tok_embd = host.require("model.embed_tokens.weight");
  w.out_norm = host.require("model.norm.weight");
  w.lm_head = host.tensor("lm_head.weight");
  if (w.lm_head.empty()) w.lm_head = w.tok_embd;
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.attn_norm = host.require(hf(l, "input_layernorm.weight"));
    affine(host, hf(l, "self_attn.q_proj"), L.q, L.q_b);
    affine(host, hf(l, "self_attn.k_proj"), L.k, L.k_b);
    affine(host, hf(l, "self_attn.v_proj"), L.v, L.v_b);
    L.o = host.require(hf(l, "self_attn.o_proj.weight"));
    L.ffn_norm = host.require(hf(l, "post_attention_layernorm.weight"));
    L.gate = host.require(hf(l, "mlp.gate_proj.weight"));
    L.up = host.require(hf(l, "mlp.up_proj.weight"));
    L.down = host.require(hf(l, "mlp.down_proj.weight"));
    w.layers.push_back(L);
  }
}

}  // namespace

ModelDef load_llama(const Host& host) {
  ModelDef m;
  m.cfg.architecture = "llama";
  m.cfg.kind = MNEMO_MODEL_DECODER;
  m.cfg.norm = MNEMO_NORM_RMS;
  m.cfg.activation = MNEMO_ACT_SILU;
  m.cfg.gated_ffn = true;
  m.cfg.rope = true;
  m.cfg.mask = "causal";
  if (host.is_gguf())
    read_gguf(host, m);
  else
    read_hf(host, m);
  m.cfg.vocab_size = static_cast<int32_t>(m.w.tok_embd.dim(0));
  return m;
}

ModelDef load_mistral(const Host& host) {
  if (host.is_gguf())  // llama.cpp converts Mistral checkpoints to its "llama" architecture
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "a GGUF file of architecture 'mistral' is not a llama.cpp conversion");
  ModelDef m = load_llama(host);
  m.cfg.architecture = "mistral";
  // transformers' MistralConfig: sliding_window = W lets each query see W positions, its own
  // included (key > query - W); null keeps full causal attention.
  if (host.meta_int("sliding_window")) {
    const int32_t window = hparam_int(host, {"sliding_window"});
    if (window < 1) throw PluginError(MNEMO_ERR_INVALID, "sliding_window must be a positive number of positions");
    m.cfg.mask = "window";
    m.cfg.window = window;
  }
  return m;
}

}  // namespace transformer

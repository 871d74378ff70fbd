// BERT encoders (BERT, MiniLM, sentence-transformers): learned positions and token types,
// LayerNorm after the embeddings and after each sublayer (post-norm), GELU (erf), bidirectional
// attention. The output is the last layer's hidden states; there is no LM head.
#include "model_def.hpp"

namespace transformer {
namespace {

std::string blk(int l, const char* name) { return "blk." + std::to_string(l) + "." + name; }

void read_gguf(const Host& host, ModelDef& m) {
  Config& c = m.cfg;
  c.n_layers = hparam_int(host, {"bert.block_count"});
  c.d_model = hparam_int(host, {"bert.embedding_length"});
  c.n_heads = hparam_int(host, {"bert.attention.head_count"});
  c.d_ff = hparam_int(host, {"bert.feed_forward_length"});
  c.context_length = hparam_int(host, {"bert.context_length"});
  c.norm_eps = hparam_float(host, {"bert.attention.layer_norm_epsilon"}, 1e-12f);
  if (auto causal = host.meta_bool("bert.attention.causal"); causal && *causal)
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "causal BERT variants are not supported");

  Weights& w = m.w;
  w.tok_embd = host.require("token_embd.weight");
  w.type_embd = host.tensor("token_types.weight");
  w.pos_embd = host.require("position_embd.weight");
  affine(host, "token_embd_norm", w.embd_norm, w.embd_norm_b);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    affine(host, blk(l, "attn_q"), L.q, L.q_b);
    affine(host, blk(l, "attn_k"), L.k, L.k_b);
    affine(host, blk(l, "attn_v"), L.v, L.v_b);
    affine(host, blk(l, "attn_output"), L.o, L.o_b);
    affine(host, blk(l, "attn_output_norm"), L.attn_norm, L.attn_norm_b);
    affine(host, blk(l, "ffn_up"), L.up, L.up_b);
    affine(host, blk(l, "ffn_down"), L.down, L.down_b);
    affine(host, blk(l, "layer_output_norm"), L.ffn_norm, L.ffn_norm_b);
    w.layers.push_back(L);
  }
}

// LayerNorm parameters are "weight"/"bias" in current files and "gamma"/"beta" in old ones.
void norm_param(const Host& host, const std::string& base, Weight& weight, Weight& bias) {
  if (host.tensor(base + ".gamma").empty()) return affine(host, base, weight, bias);
  weight = host.require(base + ".gamma");
  bias = host.tensor(base + ".beta");
}

void read_hf(const Host& host, ModelDef& m) {
  Config& c = m.cfg;
  c.n_layers = hparam_int(host, {"num_hidden_layers"});
  c.d_model = hparam_int(host, {"hidden_size"});
  c.n_heads = hparam_int(host, {"num_attention_heads"});
  c.d_ff = hparam_int(host, {"intermediate_size"});
  c.context_length = hparam_int(host, {"max_position_embeddings"});
  c.norm_eps = hparam_float(host, {"layer_norm_eps"}, 1e-12f);
  if (auto act = host.meta_string("hidden_act"); act && *act != "gelu")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "hidden_act '" + *act + "' is not supported for bert (expected gelu)");
  if (auto pos = host.meta_string("position_embedding_type"); pos && *pos != "absolute")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "position_embedding_type '" + *pos + "' is not supported");

  const std::string p = host.tensor("embeddings.word_embeddings.weight").empty() ? "bert." : "";
  auto layer = [&](int l, const char* n) { return p + "encoder.layer." + std::to_string(l) + "." + n; };
  Weights& w = m.w;
  w.tok_embd = host.require(p + "embeddings.word_embeddings.weight");
  w.type_embd = host.tensor(p + "embeddings.token_type_embeddings.weight");
  w.pos_embd = host.require(p + "embeddings.position_embeddings.weight");
  norm_param(host, p + "embeddings.LayerNorm", w.embd_norm, w.embd_norm_b);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    affine(host, layer(l, "attention.self.query"), L.q, L.q_b);
    affine(host, layer(l, "attention.self.key"), L.k, L.k_b);
    affine(host, layer(l, "attention.self.value"), L.v, L.v_b);
    affine(host, layer(l, "attention.output.dense"), L.o, L.o_b);
    norm_param(host, layer(l, "attention.output.LayerNorm"), L.attn_norm, L.attn_norm_b);
    affine(host, layer(l, "intermediate.dense"), L.up, L.up_b);
    affine(host, layer(l, "output.dense"), L.down, L.down_b);
    norm_param(host, layer(l, "output.LayerNorm"), L.ffn_norm, L.ffn_norm_b);
    w.layers.push_back(L);
  }
}

}  // namespace

ModelDef load_bert(const Host& host) {
  ModelDef m;
  m.cfg.architecture = "bert";
  m.cfg.kind = MNEMO_MODEL_ENCODER;
  m.cfg.norm = MNEMO_NORM_LAYER;
  m.cfg.activation = MNEMO_ACT_GELU_ERF;
  m.cfg.post_norm = true;
  m.cfg.mask = "none";
  if (host.is_gguf())
    read_gguf(host, m);
  else
    read_hf(host, m);
  finish_learned_position_mha(m);
  return m;
}

}  // namespace transformer

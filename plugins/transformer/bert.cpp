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
  w.embd_norm = host.require("token_embd_norm.weight");
  w.embd_norm_b = host.tensor("token_embd_norm.bias");
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.q = host.require(blk(l, "attn_q.weight"));
    L.q_b = host.tensor(blk(l, "attn_q.bias"));
    L.k = host.require(blk(l, "attn_k.weight"));
    L.k_b = host.tensor(blk(l, "attn_k.bias"));
    L.v = host.require(blk(l, "attn_v.weight"));
    L.v_b = host.tensor(blk(l, "attn_v.bias"));
    L.o = host.require(blk(l, "attn_output.weight"));
    L.o_b = host.tensor(blk(l, "attn_output.bias"));
    L.attn_norm = host.require(blk(l, "attn_output_norm.weight"));
    L.attn_norm_b = host.tensor(blk(l, "attn_output_norm.bias"));
    L.up = host.require(blk(l, "ffn_up.weight"));
    L.up_b = host.tensor(blk(l, "ffn_up.bias"));
    L.down = host.require(blk(l, "ffn_down.weight"));
    L.down_b = host.tensor(blk(l, "ffn_down.bias"));
    L.ffn_norm = host.require(blk(l, "layer_output_norm.weight"));
    L.ffn_norm_b = host.tensor(blk(l, "layer_output_norm.bias"));
    w.layers.push_back(L);
  }
}

// LayerNorm parameters are "weight"/"bias" in current files and "gamma"/"beta" in old ones.
Weight norm_param(const Host& host, const std::string& base, bool bias) {
  Weight w = host.tensor(base + (bias ? ".bias" : ".weight"));
  if (w.empty()) w = host.tensor(base + (bias ? ".beta" : ".gamma"));
  if (w.empty() && !bias) throw PluginError(MNEMO_ERR_MISSING, "missing tensor '" + base + ".weight'");
  return w;
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
  w.embd_norm = norm_param(host, p + "embeddings.LayerNorm", false);
  w.embd_norm_b = norm_param(host, p + "embeddings.LayerNorm", true);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.q = host.require(layer(l, "attention.self.query.weight"));
    L.q_b = host.tensor(layer(l, "attention.self.query.bias"));
    L.k = host.require(layer(l, "attention.self.key.weight"));
    L.k_b = host.tensor(layer(l, "attention.self.key.bias"));
    L.v = host.require(layer(l, "attention.self.value.weight"));
    L.v_b = host.tensor(layer(l, "attention.self.value.bias"));
    L.o = host.require(layer(l, "attention.output.dense.weight"));
    L.o_b = host.tensor(layer(l, "attention.output.dense.bias"));
    L.attn_norm = norm_param(host, layer(l, "attention.output.LayerNorm"), false);
    L.attn_norm_b = norm_param(host, layer(l, "attention.output.LayerNorm"), true);
    L.up = host.require(layer(l, "intermediate.dense.weight"));
    L.up_b = host.tensor(layer(l, "intermediate.dense.bias"));
    L.down = host.require(layer(l, "output.dense.weight"));
    L.down_b = host.tensor(layer(l, "output.dense.bias"));
    L.ffn_norm = norm_param(host, layer(l, "output.LayerNorm"), false);
    L.ffn_norm_b = norm_param(host, layer(l, "output.LayerNorm"), true);
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
  m.cfg.mask = MNEMO_MASK_NONE;
  if (host.is_gguf())
    read_gguf(host, m);
  else
    read_hf(host, m);
  if (m.cfg.d_model % m.cfg.n_heads != 0)
    throw PluginError(MNEMO_ERR_INVALID, "embedding width " + std::to_string(m.cfg.d_model) +
                                             " is not a multiple of the head count " + std::to_string(m.cfg.n_heads));
  m.cfg.n_kv_heads = m.cfg.n_heads;
  m.cfg.head_dim = m.cfg.d_model / m.cfg.n_heads;
  m.cfg.vocab_size = static_cast<int32_t>(m.w.tok_embd.dim(0));
  const int64_t positions = m.w.pos_embd.dim(0);
  if (positions < m.cfg.context_length) m.cfg.context_length = static_cast<int32_t>(positions);
  return m;
}

}  // namespace transformer

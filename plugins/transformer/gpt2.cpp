// GPT-2: learned absolute positions, pre-norm LayerNorm, GELU (tanh approximation), MHA with a
// fused QKV projection. Hugging Face files store projections as Conv1D weights [in][out]; they
// are transposed once at load time into the [out][in] layout the engine multiplies with.
#include "model_def.hpp"

namespace transformer {
namespace {

std::string blk(int l, const char* name) { return "blk." + std::to_string(l) + "." + name; }

void read_gguf(const Host& host, ModelDef& m) {
  Config& c = m.cfg;
  c.n_layers = hparam_int(host, {"gpt2.block_count"});
  c.d_model = hparam_int(host, {"gpt2.embedding_length"});
  c.n_heads = hparam_int(host, {"gpt2.attention.head_count"});
  c.d_ff = hparam_int(host, {"gpt2.feed_forward_length"});
  c.context_length = hparam_int(host, {"gpt2.context_length"});
  c.norm_eps = hparam_float(host, {"gpt2.attention.layer_norm_epsilon"}, 1e-5f);

  Weights& w = m.w;
  w.tok_embd = host.require("token_embd.weight");
  w.pos_embd = host.require("position_embd.weight");
  w.out_norm = host.require("output_norm.weight");
  w.out_norm_b = host.tensor("output_norm.bias");
  w.lm_head = host.tensor("output.weight");
  if (w.lm_head.empty()) w.lm_head = w.tok_embd;
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.attn_norm = host.require(blk(l, "attn_norm.weight"));
    L.attn_norm_b = host.tensor(blk(l, "attn_norm.bias"));
    L.qkv = host.require(blk(l, "attn_qkv.weight"));
    L.qkv_b = host.tensor(blk(l, "attn_qkv.bias"));
    L.o = host.require(blk(l, "attn_output.weight"));
    L.o_b = host.tensor(blk(l, "attn_output.bias"));
    L.ffn_norm = host.require(blk(l, "ffn_norm.weight"));
    L.ffn_norm_b = host.tensor(blk(l, "ffn_norm.bias"));
    L.up = host.require(blk(l, "ffn_up.weight"));
    L.up_b = host.tensor(blk(l, "ffn_up.bias"));
    L.down = host.require(blk(l, "ffn_down.weight"));
    L.down_b = host.tensor(blk(l, "ffn_down.bias"));
    w.layers.push_back(L);
  }
}

void read_hf(const Host& host, ModelDef& m) {
  Config& c = m.cfg;
  c.n_layers = hparam_int(host, {"n_layer", "num_hidden_layers"});
  c.d_model = hparam_int(host, {"n_embd", "hidden_size"});
  c.n_heads = hparam_int(host, {"n_head", "num_attention_heads"});
  c.d_ff = host.meta_int("n_inner") ? hparam_int(host, {"n_inner"}) : 4 * c.d_model;
  c.context_length = hparam_int(host, {"n_positions", "n_ctx", "max_position_embeddings"});
  c.norm_eps = hparam_float(host, {"layer_norm_epsilon"}, 1e-5f);
  if (auto act = host.meta_string("activation_function"); act && *act != "gelu_new" && *act != "gelu_pytorch_tanh")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "activation_function '" + *act + "' is not supported for gpt2");

  // Weights sit at the top level or under "transformer." depending on the exporting class.
  const std::string prefix = host.tensor("wte.weight").empty() ? "transformer." : "";
  auto name = [&](const std::string& n) { return prefix + n; };
  auto layer = [&](int l, const char* n) { return prefix + "h." + std::to_string(l) + "." + n; };
  auto conv1d = [&](int l, const char* n) {
    const std::string full = layer(l, n);
    return transposed(host, host.require(full), full.c_str());
  };

  Weights& w = m.w;
  w.tok_embd = host.require(name("wte.weight"));
  w.pos_embd = host.require(name("wpe.weight"));
  w.out_norm = host.require(name("ln_f.weight"));
  w.out_norm_b = host.tensor(name("ln_f.bias"));
  w.lm_head = host.tensor("lm_head.weight");
  if (w.lm_head.empty()) w.lm_head = w.tok_embd;
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    L.attn_norm = host.require(layer(l, "ln_1.weight"));
    L.attn_norm_b = host.tensor(layer(l, "ln_1.bias"));
    L.qkv = conv1d(l, "attn.c_attn.weight");
    L.qkv_b = host.tensor(layer(l, "attn.c_attn.bias"));
    L.o = conv1d(l, "attn.c_proj.weight");
    L.o_b = host.tensor(layer(l, "attn.c_proj.bias"));
    L.ffn_norm = host.require(layer(l, "ln_2.weight"));
    L.ffn_norm_b = host.tensor(layer(l, "ln_2.bias"));
    L.up = conv1d(l, "mlp.c_fc.weight");
    L.up_b = host.tensor(layer(l, "mlp.c_fc.bias"));
    L.down = conv1d(l, "mlp.c_proj.weight");
    L.down_b = host.tensor(layer(l, "mlp.c_proj.bias"));
    w.layers.push_back(L);
  }
}

}  // namespace

ModelDef load_gpt2(const Host& host) {
  ModelDef m;
  m.cfg.architecture = "gpt2";
  m.cfg.kind = MNEMO_MODEL_DECODER;
  m.cfg.norm = MNEMO_NORM_LAYER;
  m.cfg.activation = MNEMO_ACT_GELU_TANH;
  m.cfg.mask = MNEMO_MASK_CAUSAL;
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

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
  affine(host, "output_norm", w.out_norm, w.out_norm_b);
  w.lm_head = host.tensor("output.weight");
  if (w.lm_head.empty()) w.lm_head = w.tok_embd;
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    affine(host, blk(l, "attn_norm"), L.attn_norm, L.attn_norm_b);
    affine(host, blk(l, "attn_qkv"), L.qkv, L.qkv_b);
    affine(host, blk(l, "attn_output"), L.o, L.o_b);
    affine(host, blk(l, "ffn_norm"), L.ffn_norm, L.ffn_norm_b);
    affine(host, blk(l, "ffn_up"), L.up, L.up_b);
    affine(host, blk(l, "ffn_down"), L.down, L.down_b);
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
  // Conv1D weights are stored [in][out]: transposed once here.
  auto conv1d = [&](int l, const char* n, Weight& weight, Weight& bias) {
    const std::string base = layer(l, n);
    weight = transposed(host, host.require(base + ".weight"), (base + ".weight").c_str());
    bias = host.tensor(base + ".bias");
  };

  Weights& w = m.w;
  w.tok_embd = host.require(name("wte.weight"));
  w.pos_embd = host.require(name("wpe.weight"));
  affine(host, name("ln_f"), w.out_norm, w.out_norm_b);
  w.lm_head = host.tensor("lm_head.weight");
  if (w.lm_head.empty()) w.lm_head = w.tok_embd;
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights L;
    affine(host, layer(l, "ln_1"), L.attn_norm, L.attn_norm_b);
    conv1d(l, "attn.c_attn", L.qkv, L.qkv_b);
    conv1d(l, "attn.c_proj", L.o, L.o_b);
    affine(host, layer(l, "ln_2"), L.ffn_norm, L.ffn_norm_b);
    conv1d(l, "mlp.c_fc", L.up, L.up_b);
    conv1d(l, "mlp.c_proj", L.down, L.down_b);
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
  m.cfg.mask = "causal";
  if (host.is_gguf())
    read_gguf(host, m);
  else
    read_hf(host, m);
  finish_learned_position_mha(m);
  return m;
}

}  // namespace transformer

// Blocks the recurrent-family plugins (linear, mamba) share: hyperparameter lookup, the SwiGLU
// MLP, softmax attention for the softmax layers of hybrids, and the ends of a decoder (embedding,
// final RMSNorm, LM head). Each plugin compiles this file into its own module.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "mnemo/plugin_sdk.hpp"

namespace mnemo::blocks {

using sdk::Host;
using sdk::PluginError;
using sdk::View;
using sdk::Weight;

// An integer hyperparameter under the first of `keys` present; throws naming them all.
int32_t hparam_int(const Host& host, std::initializer_list<const char*> keys);
int32_t hparam_int_or(const Host& host, std::initializer_list<const char*> keys, int32_t fallback);
float hparam_float(const Host& host, std::initializer_list<const char*> keys, float fallback);
bool hparam_bool(const Host& host, const char* key, bool fallback);

// A tensor with exactly this shape (outermost first), or a MISSING / INVALID error naming it.
Weight require_shape(const Host& host, const std::string& name, std::initializer_list<int64_t> shape);

// down(silu(gate(x)) · up(x)), the MLP of Llama and of fla's models.
struct SwiGlu {
  Weight gate, up, down;
  int32_t d_ff = 0;
  static SwiGlu load(const Host& host, const std::string& prefix, int64_t d_model, int64_t d_ff);
  // out = mlp(x); h and g are [t][d_ff] scratch.
  void run(const Host& host, const View& x, const View& h, const View& g, const View& out) const;
};

// Softmax attention as in a Llama block (q/k/v/o projections without bias, NeoX RoPE, GQA) for
// the softmax layers of a hybrid: the host's attention op over the layer's KV cache, exactly as
// the transformer plugin runs it.
struct SoftmaxAttention {
  Weight q, k, v, o;
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float rope_theta = 10000.f;
  static SoftmaxAttention load(const Host& host, const std::string& prefix, int64_t d_model, int32_t n_heads,
                               int32_t n_kv_heads, int32_t head_dim, float rope_theta);
  mnemo_layer_desc layer() const;
  void run(const Host& host, int32_t layer, const View& x, const View& out) const;
};

// The embedding table, final RMSNorm and LM head of a decoder (the head tied to the table when
// the checkpoint has none).
struct DecoderEnds {
  Weight embed, final_norm, lm_head;
  float norm_eps = 1e-5f;
  int32_t vocab_size = 0, d_model = 0;
  int32_t lm_head_op = -1;
  // The table `embed_name` ([vocab][d_model]), the final norm `norm_name` and "lm_head.weight",
  // which may be absent only when the config ties the head to the table.
  static DecoderEnds load(const Host& host, int32_t d_model, const std::string& embed_name, const std::string& norm_name,
                          float norm_eps, bool tied);
  void embed_tokens(const Host& host, const mnemo_forward_args& a, const View& x) const;
  // Final norm, hidden states (when asked) and the last token's logits.
  void finish(const Host& host, const mnemo_forward_args& a, const View& x) const;
};

}  // namespace mnemo::blocks

#include "blocks.hpp"

#include <cmath>

namespace mnemo::blocks {

int32_t hparam_int_or(const Host& host, std::initializer_list<const char*> keys, int32_t fallback) {
  for (const char* key : keys)
    if (auto v = host.meta_int(key)) {
      if (*v < 0 || *v > (int64_t{1} << 24))
        throw PluginError(MNEMO_ERR_INVALID, std::string("metadata '") + key + "' = " + std::to_string(*v) + " is out of range");
      return static_cast<int32_t>(*v);
    }
  return fallback;
}

int32_t hparam_int(const Host& host, std::initializer_list<const char*> keys) {
  const int32_t v = hparam_int_or(host, keys, -1);
  if (v >= 0) return v;
  std::string tried;
  for (const char* key : keys) tried += (tried.empty() ? "'" : ", '") + std::string(key) + "'";
  throw PluginError(MNEMO_ERR_MISSING, "missing integer hyperparameter " + tried);
}

float hparam_float(const Host& host, std::initializer_list<const char*> keys, float fallback) {
  for (const char* key : keys)
    if (auto v = host.meta_float(key)) return static_cast<float>(*v);
  return fallback;
}

bool hparam_bool(const Host& host, const char* key, bool fallback) { return host.meta_bool(key).value_or(fallback); }

Weight require_shape(const Host& host, const std::string& name, std::initializer_list<int64_t> shape) {
  Weight w = host.require(name);
  Host::expect_shape(name, w, shape);
  return w;
}

SwiGlu SwiGlu::load(const Host& host, const std::string& prefix, int64_t d_model, int64_t d_ff) {
  SwiGlu m;
  m.gate = require_shape(host, prefix + "gate_proj.weight", {d_ff, d_model});
  m.up = require_shape(host, prefix + "up_proj.weight", {d_ff, d_model});
  m.down = require_shape(host, prefix + "down_proj.weight", {d_model, d_ff});
  m.d_ff = static_cast<int32_t>(d_ff);
  return m;
}

void SwiGlu::run(const Host& host, const View& x, const View& h, const View& g, const View& out) const {
  const Weight none;
  host.matmul_many(x, {{&gate, &none, g}, {&up, &none, h}});
  host.gated(MNEMO_ACT_SILU, g, h, h);
  host.matmul(h, down, none, out);
}

SoftmaxAttention SoftmaxAttention::load(const Host& host, const std::string& prefix, int64_t d_model, int32_t n_heads,
                                        int32_t n_kv_heads, int32_t head_dim, float rope_theta) {
  if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || head_dim % 2 != 0)
    throw PluginError(MNEMO_ERR_INVALID, "attention layers need heads a multiple of the KV heads and an even head width");
  SoftmaxAttention a;
  a.n_heads = n_heads, a.n_kv_heads = n_kv_heads, a.head_dim = head_dim, a.rope_theta = rope_theta;
  a.q = require_shape(host, prefix + "q_proj.weight", {int64_t{n_heads} * head_dim, d_model});
  a.k = require_shape(host, prefix + "k_proj.weight", {int64_t{n_kv_heads} * head_dim, d_model});
  a.v = require_shape(host, prefix + "v_proj.weight", {int64_t{n_kv_heads} * head_dim, d_model});
  a.o = require_shape(host, prefix + "o_proj.weight", {d_model, int64_t{n_heads} * head_dim});
  return a;
}

mnemo_layer_desc SoftmaxAttention::layer() const {
  return sdk::softmax_layer(n_heads, n_kv_heads, head_dim, "causal", 0, 1.0f / std::sqrt(static_cast<float>(head_dim)));
}

void SoftmaxAttention::run(const Host& host, int32_t layer, const View& x, const View& out) const {
  const int64_t t = x.rows, qd = int64_t{n_heads} * head_dim, kvd = int64_t{n_kv_heads} * head_dim;
  const View qv = host.scratch(t, qd), kv = host.scratch(t, kvd), vv = host.scratch(t, kvd), ov = host.scratch(t, qd);
  const Weight none;
  host.matmul_many(x, {{&q, &none, qv}, {&k, &none, kv}, {&v, &none, vv}});
  host.rope(qv, n_heads, head_dim, head_dim, rope_theta, MNEMO_ROPE_NEOX);
  host.rope(kv, n_kv_heads, head_dim, head_dim, rope_theta, MNEMO_ROPE_NEOX);
  host.attention(layer, qv, kv, vv, ov);
  host.matmul(ov, o, none, out);
}

DecoderEnds DecoderEnds::load(const Host& host, int32_t d_model, const std::string& embed_name,
                              const std::string& norm_name, float norm_eps, bool tied) {
  DecoderEnds e;
  const int64_t d = d_model;
  e.embed = host.require(embed_name);
  if (e.embed.t.ndim != 2 || e.embed.dim(1) != d)
    throw PluginError(MNEMO_ERR_INVALID, embed_name + " must be [vocab, " + std::to_string(d) + "]");
  e.vocab_size = static_cast<int32_t>(e.embed.dim(0));
  e.d_model = d_model;
  e.norm_eps = norm_eps;
  e.final_norm = require_shape(host, norm_name, {d});
  e.lm_head = tied ? host.tensor("lm_head.weight") : host.require("lm_head.weight");
  if (!e.lm_head.empty()) Host::expect_shape("lm_head.weight", e.lm_head, {e.vocab_size, d});
  e.lm_head_op = host.op_kind("lm_head");
  return e;
}

void DecoderEnds::embed_tokens(const Host& host, const mnemo_forward_args& a, const View& x) const {
  for (int64_t i = 0; i < a.n_tokens; ++i)
    if (a.tokens[i] < 0 || a.tokens[i] >= vocab_size)
      throw PluginError(MNEMO_ERR_INVALID, "token id " + std::to_string(a.tokens[i]) + " is outside the vocabulary of " +
                                               std::to_string(vocab_size));
  host.embed(embed, a.tokens, x);
}

void DecoderEnds::finish(const Host& host, const mnemo_forward_args& a, const View& x) const {
  const int64_t t = a.n_tokens;
  const Weight none;
  View last;
  if (a.hidden.buffer) {
    host.norm(MNEMO_NORM_RMS, x, final_norm, none, norm_eps, a.hidden);
    last = sdk::rows(a.hidden, t - 1, 1);
  } else {
    last = host.scratch(1, d_model);
    host.norm(MNEMO_NORM_RMS, sdk::rows(x, t - 1, 1), final_norm, none, norm_eps, last);
  }
  if (a.logits.buffer) host.matmul(last, lm_head.empty() ? embed : lm_head, none, a.logits, lm_head_op);
}

}  // namespace mnemo::blocks

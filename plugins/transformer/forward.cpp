// The forward pass shared by every family (transformer_model.hpp). Architecture files only
// describe weights and hyperparameters (model_def.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "transformer_model.hpp"

namespace transformer {

Transformer::Transformer(const Host& host, ModelDef def) : host_(host), def_(std::move(def)) {
  const Config& c = def_.cfg;
  layer_ = mnemo::sdk::softmax_layer(c.n_heads, c.n_kv_heads, c.head_dim, c.mask, c.window,
                                     1.0f / std::sqrt(static_cast<float>(c.head_dim)));
  lm_head_op_ = host_.op_kind("lm_head");
}

mnemo_model_info Transformer::info() const {
  const Config& c = def_.cfg;
  mnemo_model_info i{};
  i.kind = c.kind;
  i.n_layers = c.n_layers;
  i.d_model = c.d_model;
  i.n_heads = c.n_heads;
  i.n_kv_heads = c.n_kv_heads;
  i.head_dim = c.head_dim;
  i.d_ff = c.d_ff;
  i.vocab_size = c.vocab_size;
  i.context_length = c.context_length;
  mnemo::sdk::copy_name(i.architecture, c.architecture);
  return i;
}

mnemo_layer_desc Transformer::layer(int32_t index) const {
  if (index < 0 || index >= def_.cfg.n_layers) throw PluginError(MNEMO_ERR_INVALID, "no layer " + std::to_string(index));
  return layer_;
}

void Transformer::forward(const mnemo_forward_args& a) {
  const int64_t t = a.n_tokens, d = def_.cfg.d_model;
  const View x = host_.scratch(t, d);
  host_.set_layer(-1);
  embed(a, x);
  blocks(x, 0, t);
  host_.set_layer(-1);
  finish(a, x);
}

void Transformer::blocks(const View& x, int64_t probe_row0, int64_t probe_rows) {
  const Config& c = def_.cfg;
  const Weights& w = def_.w;
  const int64_t t = x.rows, d = c.d_model;
  const View xn = host_.scratch(t, d);
  const View sub = host_.scratch(t, d);
  const BlockBuffers buf = block_buffers(t);
  for (int32_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers[static_cast<size_t>(l)];
    host_.set_layer(l);
    before_block(l, x);
    if (c.post_norm) {
      attention(l, x, buf, sub);
      host_.add(sub, x);
      host_.norm(c.norm, sub, L.attn_norm, L.attn_norm_b, c.norm_eps, x);
      feed_forward(L, x, buf, sub);
      host_.add(sub, x);
      host_.norm(c.norm, sub, L.ffn_norm, L.ffn_norm_b, c.norm_eps, x);
    } else {
      host_.norm(c.norm, x, L.attn_norm, L.attn_norm_b, c.norm_eps, xn);
      attention(l, xn, buf, sub);
      host_.add(x, sub);
      host_.norm(c.norm, x, L.ffn_norm, L.ffn_norm_b, c.norm_eps, xn);
      feed_forward(L, xn, buf, sub);
      host_.add(x, sub);
    }
    after_block(l, x);
    if (probe_rows > 0) host_.probe_residual(l, mnemo::sdk::rows(x, probe_row0, probe_rows));
  }
}

Transformer::BlockBuffers Transformer::block_buffers(int64_t t) {
  const Config& c = def_.cfg;
  const int64_t qd = int64_t{c.n_heads} * c.head_dim, kvd = int64_t{c.n_kv_heads} * c.head_dim, ff = c.d_ff;
  BlockBuffers b{};
  b.q = host_.scratch(t, qd);
  b.k = host_.scratch(t, kvd);
  b.v = host_.scratch(t, kvd);
  const auto& layers = def_.w.layers;
  if (std::any_of(layers.begin(), layers.end(), [](const LayerWeights& L) { return !L.qkv.empty(); }))
    b.qkv = host_.scratch(t, qd + 2 * kvd);
  b.attn = host_.scratch(t, qd);
  b.h = host_.scratch(t, ff);
  if (c.gated_ffn) b.g = host_.scratch(t, ff);
  return b;
}

void Transformer::embed_tokens(const int32_t* tokens, const View& x) {
  const Config& c = def_.cfg;
  for (int64_t i = 0; i < x.rows; ++i)
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size)
      throw PluginError(MNEMO_ERR_INVALID, "token id " + std::to_string(tokens[i]) + " is outside the vocabulary of " +
                                               std::to_string(c.vocab_size));
  host_.embed(def_.w.tok_embd, tokens, x);
}

void Transformer::add_learned_positions(const int32_t* positions, const View& x) {
  const Weight& table = def_.w.pos_embd;
  if (table.empty()) return;
  for (int64_t i = 0; i < x.rows; ++i)
    if (positions[i] < 0 || positions[i] >= table.dim(0))
      throw PluginError(MNEMO_ERR_INVALID, "position " + std::to_string(positions[i]) + " is past the " +
                                               std::to_string(table.dim(0)) + " learned positions");
  const View tmp = host_.scratch(x.rows, x.cols);
  host_.embed(table, positions, tmp);
  host_.add(x, tmp);
}

void Transformer::embed(const mnemo_forward_args& a, const View& x) {
  const Config& c = def_.cfg;
  const Weights& w = def_.w;
  embed_tokens(a.tokens, x);
  add_learned_positions(a.positions, x);
  if (!w.type_embd.empty()) {  // every token has type 0 (single-segment input)
    zeros_.assign(static_cast<size_t>(a.n_tokens), 0);
    const View tmp = host_.scratch(x.rows, x.cols);
    host_.embed(w.type_embd, zeros_.data(), tmp);
    host_.add(x, tmp);
  }
  if (!w.embd_norm.empty()) host_.norm(c.norm, x, w.embd_norm, w.embd_norm_b, c.norm_eps, x);
}

void Transformer::attention(int32_t l, const View& x, const BlockBuffers& buf, const View& out) {
  const Config& c = def_.cfg;
  const LayerWeights& L = def_.w.layers[static_cast<size_t>(l)];
  const int64_t qd = int64_t{c.n_heads} * c.head_dim, kvd = int64_t{c.n_kv_heads} * c.head_dim;
  View q = buf.q, k = buf.k, v = buf.v;
  if (!L.qkv.empty()) {
    // One fused projection; Q, K and V are column views of its rows, no copies.
    host_.matmul(x, L.qkv, L.qkv_b, buf.qkv);
    q = mnemo::sdk::cols(buf.qkv, 0, qd);
    k = mnemo::sdk::cols(buf.qkv, qd, kvd);
    v = mnemo::sdk::cols(buf.qkv, qd + kvd, kvd);
  } else {
    host_.matmul_many(x, {{&L.q, &L.q_b, q}, {&L.k, &L.k_b, k}, {&L.v, &L.v_b, v}});
  }
  before_rope(l, q, k, v);
  if (c.rope) {
    host_.rope(q, c.n_heads, c.head_dim, c.n_rot, c.rope_theta, c.rope_mode);
    host_.rope(k, c.n_kv_heads, c.head_dim, c.n_rot, c.rope_theta, c.rope_mode);
  }
  host_.attention(l, q, k, v, buf.attn);
  after_attention(l, buf.attn);
  host_.matmul(buf.attn, L.o, L.o_b, out);
}

void Transformer::feed_forward(const LayerWeights& L, const View& x, const BlockBuffers& buf, const View& out) {
  const Config& c = def_.cfg;
  if (c.gated_ffn) {
    host_.matmul_many(x, {{&L.gate, &L.gate_b, buf.g}, {&L.up, &L.up_b, buf.h}});
    host_.gated(c.activation, buf.g, buf.h, buf.h);
  } else {
    host_.matmul(x, L.up, L.up_b, buf.h);
    host_.activate(c.activation, buf.h);
  }
  host_.matmul(buf.h, L.down, L.down_b, out);
}

void Transformer::final_norm(const View& x, const View& y) {
  const Config& c = def_.cfg;
  const Weights& w = def_.w;
  if (!w.out_norm.empty())
    host_.norm(c.norm, x, w.out_norm, w.out_norm_b, c.norm_eps, y);
  else
    host_.copy(y, x);
}

void Transformer::lm_head(const View& row, const View& logits) {
  if (logits.buffer && !def_.w.lm_head.empty()) host_.matmul(row, def_.w.lm_head, Weight{}, logits, lm_head_op_);
}

void Transformer::finish(const mnemo_forward_args& a, const View& x) {
  const Config& c = def_.cfg;
  const Weights& w = def_.w;
  const int64_t t = a.n_tokens, d = c.d_model;
  View last = mnemo::sdk::rows(x, t - 1, 1);
  if (!w.out_norm.empty()) {
    if (a.hidden.buffer) {
      final_norm(x, a.hidden);
      last = mnemo::sdk::rows(a.hidden, t - 1, 1);
    } else {
      const View y = host_.scratch(1, d);
      final_norm(last, y);
      last = y;
    }
  } else if (a.hidden.buffer) {
    host_.copy(a.hidden, x);
  }
  lm_head(last, a.logits);
}

std::unique_ptr<mnemo::sdk::Model> make_transformer(const Host& host, ModelDef def) {
  validate(def);
  return std::make_unique<Transformer>(host, std::move(def));
}

}  // namespace transformer

// The forward pass shared by every family: embeddings, then blocks of self-attention and a
// feed-forward network (pre-norm for decoders, post-norm for BERT), then the final norm and the
// LM head. Architecture files only describe weights and hyperparameters (model_def.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "model_def.hpp"

namespace transformer {
namespace {

class Transformer final : public mnemo::sdk::Model {
 public:
  Transformer(const Host& host, ModelDef def) : host_(host), def_(std::move(def)) {
    const Config& c = def_.cfg;
    layer_ = mnemo::sdk::softmax_layer(c.n_heads, c.n_kv_heads, c.head_dim, c.mask, c.window,
                                       1.0f / std::sqrt(static_cast<float>(c.head_dim)));
    lm_head_op_ = host_.op_kind("lm_head");
  }

  mnemo_model_info info() const override {
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

  // Every layer is softmax attention over a KV cache, masked as the family is (causal decoders,
  // bidirectional encoders).
  mnemo_layer_desc layer(int32_t index) const override {
    if (index < 0 || index >= def_.cfg.n_layers) throw PluginError(MNEMO_ERR_INVALID, "no layer " + std::to_string(index));
    return layer_;
  }

  void forward(const mnemo_forward_args& a) override {
    const Config& c = def_.cfg;
    const Weights& w = def_.w;
    const int64_t t = a.n_tokens, d = c.d_model;
    const View x = host_.scratch(t, d);
    host_.set_layer(-1);
    embed(a, x);

    const View xn = host_.scratch(t, d);
    const View sub = host_.scratch(t, d);
    const BlockBuffers buf = block_buffers(t);
    for (int32_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = w.layers[static_cast<size_t>(l)];
      host_.set_layer(l);
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
      host_.probe_residual(l, x);
    }
    host_.set_layer(-1);
    finish(a, x);
  }

 private:
  // A block's intermediate activations. Every block reuses the same ones: scratch lives until
  // forward() returns, so taking it per block would hold n_layers copies (270 MB for SmolLM2 at
  // 540 tokens, all of which the next step's arena then has to hold too).
  struct BlockBuffers {
    View q, k, v, qkv, attn, h, g;
  };

  BlockBuffers block_buffers(int64_t t) {
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

  void embed(const mnemo_forward_args& a, const View& x) {
    const Config& c = def_.cfg;
    const Weights& w = def_.w;
    const int64_t t = a.n_tokens, d = c.d_model;
    for (int64_t i = 0; i < t; ++i)
      if (a.tokens[i] < 0 || a.tokens[i] >= c.vocab_size)
        throw PluginError(MNEMO_ERR_INVALID, "token id " + std::to_string(a.tokens[i]) + " is outside the vocabulary of " +
                                                 std::to_string(c.vocab_size));
    host_.embed(w.tok_embd, a.tokens, x);
    const View tmp = host_.scratch(t, d);
    if (!w.pos_embd.empty()) {
      for (int64_t i = 0; i < t; ++i)
        if (a.positions[i] < 0 || a.positions[i] >= w.pos_embd.dim(0))
          throw PluginError(MNEMO_ERR_INVALID, "position " + std::to_string(a.positions[i]) + " is past the " +
                                                   std::to_string(w.pos_embd.dim(0)) + " learned positions");
      host_.embed(w.pos_embd, a.positions, tmp);
      host_.add(x, tmp);
    }
    if (!w.type_embd.empty()) {  // every token has type 0 (single-segment input)
      zeros_.assign(static_cast<size_t>(t), 0);
      host_.embed(w.type_embd, zeros_.data(), tmp);
      host_.add(x, tmp);
    }
    if (!w.embd_norm.empty()) host_.norm(c.norm, x, w.embd_norm, w.embd_norm_b, c.norm_eps, x);
  }

  void attention(int32_t l, const View& x, const BlockBuffers& buf, const View& out) {
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
    if (c.rope) {
      host_.rope(q, c.n_heads, c.head_dim, c.n_rot, c.rope_theta, c.rope_mode);
      host_.rope(k, c.n_kv_heads, c.head_dim, c.n_rot, c.rope_theta, c.rope_mode);
    }
    host_.attention(l, q, k, v, buf.attn);
    host_.matmul(buf.attn, L.o, L.o_b, out);
  }

  void feed_forward(const LayerWeights& L, const View& x, const BlockBuffers& buf, const View& out) {
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

  // Final norm, hidden states and the logits of the last token.
  void finish(const mnemo_forward_args& a, const View& x) {
    const Config& c = def_.cfg;
    const Weights& w = def_.w;
    const int64_t t = a.n_tokens, d = c.d_model;
    View last = mnemo::sdk::rows(x, t - 1, 1);
    if (!w.out_norm.empty()) {
      if (a.hidden.buffer) {
        host_.norm(c.norm, x, w.out_norm, w.out_norm_b, c.norm_eps, a.hidden);
        last = mnemo::sdk::rows(a.hidden, t - 1, 1);
      } else {
        const View y = host_.scratch(1, d);
        host_.norm(c.norm, last, w.out_norm, w.out_norm_b, c.norm_eps, y);
        last = y;
      }
    } else if (a.hidden.buffer) {
      host_.copy(a.hidden, x);
    }
    if (a.logits.buffer && !w.lm_head.empty()) host_.matmul(last, w.lm_head, Weight{}, a.logits, lm_head_op_);
  }

  Host host_;
  ModelDef def_;
  mnemo_layer_desc layer_{};
  int32_t lm_head_op_ = -1;
  std::vector<int32_t> zeros_;
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_transformer(const Host& host, ModelDef def) {
  validate(def);
  return std::make_unique<Transformer>(host, std::move(def));
}

}  // namespace transformer

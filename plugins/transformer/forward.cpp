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
    desc_.n_heads = c.n_heads;
    desc_.n_kv_heads = c.n_kv_heads;
    desc_.head_dim = c.head_dim;
    desc_.mask = c.mask;
    desc_.window = 0;
    desc_.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
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

  void forward(const mnemo_forward_args& a) override {
    const Config& c = def_.cfg;
    const Weights& w = def_.w;
    const int64_t t = a.n_tokens, d = c.d_model;
    float* x = host_.scratch(static_cast<uint64_t>(t * d));
    host_.set_layer(-1);
    embed(a, x);

    float* xn = host_.scratch(static_cast<uint64_t>(t * d));
    float* sub = host_.scratch(static_cast<uint64_t>(t * d));
    const BlockBuffers buf = block_buffers(t);
    for (int32_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights& L = w.layers[static_cast<size_t>(l)];
      host_.set_layer(l);
      if (c.post_norm) {
        attention(l, x, t, a.pos0, buf, sub);
        host_.add(sub, x, t * d);
        host_.norm(c.norm, sub, L.attn_norm, L.attn_norm_b, t, d, c.norm_eps, x);
        feed_forward(L, x, t, buf, sub);
        host_.add(sub, x, t * d);
        host_.norm(c.norm, sub, L.ffn_norm, L.ffn_norm_b, t, d, c.norm_eps, x);
      } else {
        host_.norm(c.norm, x, L.attn_norm, L.attn_norm_b, t, d, c.norm_eps, xn);
        attention(l, xn, t, a.pos0, buf, sub);
        host_.add(x, sub, t * d);
        host_.norm(c.norm, x, L.ffn_norm, L.ffn_norm_b, t, d, c.norm_eps, xn);
        feed_forward(L, xn, t, buf, sub);
        host_.add(x, sub, t * d);
      }
      host_.probe_residual(l, x, t, d, a.pos0);
    }
    host_.set_layer(-1);
    finish(a, x);
  }

 private:
  // A block's intermediate activations. Every block reuses the same ones: scratch lives until
  // forward() returns, so taking it per block would hold n_layers copies (270 MB for SmolLM2 at
  // 540 tokens, all of which the next step's arena then has to hold too).
  struct BlockBuffers {
    float *q, *k, *v, *qkv, *attn, *h, *g;
  };

  BlockBuffers block_buffers(int64_t t) {
    const Config& c = def_.cfg;
    const int64_t qd = int64_t{c.n_heads} * c.head_dim, kvd = int64_t{c.n_kv_heads} * c.head_dim, ff = c.d_ff;
    auto take = [&](int64_t n) { return host_.scratch(static_cast<uint64_t>(t * n)); };
    BlockBuffers b{};
    b.q = take(qd);
    b.k = take(kvd);
    b.v = take(kvd);
    const auto& layers = def_.w.layers;
    if (std::any_of(layers.begin(), layers.end(), [](const LayerWeights& L) { return !L.qkv.empty(); }))
      b.qkv = take(qd + 2 * kvd);
    b.attn = take(qd);
    b.h = take(ff);
    if (c.gated_ffn) b.g = take(ff);
    return b;
  }

  void embed(const mnemo_forward_args& a, float* x) {
    const Config& c = def_.cfg;
    const Weights& w = def_.w;
    const int64_t t = a.n_tokens, d = c.d_model;
    for (int64_t i = 0; i < t; ++i)
      if (a.tokens[i] < 0 || a.tokens[i] >= c.vocab_size)
        throw PluginError(MNEMO_ERR_INVALID, "token id " + std::to_string(a.tokens[i]) + " is outside the vocabulary of " +
                                                 std::to_string(c.vocab_size));
    host_.embed(w.tok_embd, a.tokens, t, x);
    float* tmp = host_.scratch(static_cast<uint64_t>(t * d));
    if (!w.pos_embd.empty()) {
      if (a.pos0 + t > w.pos_embd.dim(0))
        throw PluginError(MNEMO_ERR_INVALID, "position " + std::to_string(a.pos0 + t - 1) + " is past the " +
                                                 std::to_string(w.pos_embd.dim(0)) + " learned positions");
      positions_.resize(static_cast<size_t>(t));
      for (int64_t i = 0; i < t; ++i) positions_[static_cast<size_t>(i)] = static_cast<int32_t>(a.pos0 + i);
      host_.embed(w.pos_embd, positions_.data(), t, tmp);
      host_.add(x, tmp, t * d);
    }
    if (!w.type_embd.empty()) {  // every token has type 0 (single-segment input)
      zeros_.assign(static_cast<size_t>(t), 0);
      host_.embed(w.type_embd, zeros_.data(), t, tmp);
      host_.add(x, tmp, t * d);
    }
    if (!w.embd_norm.empty()) host_.norm(c.norm, x, w.embd_norm, w.embd_norm_b, t, d, c.norm_eps, x);
  }

  void attention(int32_t l, const float* x, int64_t t, int64_t pos0, const BlockBuffers& buf, float* out) {
    const Config& c = def_.cfg;
    const LayerWeights& L = def_.w.layers[static_cast<size_t>(l)];
    const int64_t d = c.d_model, qd = int64_t{c.n_heads} * c.head_dim, kvd = int64_t{c.n_kv_heads} * c.head_dim;
    float *q = buf.q, *k = buf.k, *v = buf.v;
    if (!L.qkv.empty()) {
      const int64_t fused = qd + 2 * kvd;
      float* qkv = buf.qkv;
      host_.matmul(x, t, d, L.qkv, L.qkv_b, qkv);
      for (int64_t i = 0; i < t; ++i) {
        const float* row = qkv + i * fused;
        std::memcpy(q + i * qd, row, sizeof(float) * static_cast<size_t>(qd));
        std::memcpy(k + i * kvd, row + qd, sizeof(float) * static_cast<size_t>(kvd));
        std::memcpy(v + i * kvd, row + qd + kvd, sizeof(float) * static_cast<size_t>(kvd));
      }
    } else {
      host_.matmul_many(x, t, d, {{&L.q, &L.q_b, q}, {&L.k, &L.k_b, k}, {&L.v, &L.v_b, v}});
    }
    if (c.rope) {
      host_.rope(q, t, c.n_heads, c.head_dim, c.n_rot, pos0, c.rope_theta, c.rope_mode);
      host_.rope(k, t, c.n_kv_heads, c.head_dim, c.n_rot, pos0, c.rope_theta, c.rope_mode);
    }
    host_.attention(l, desc_, q, k, v, t, pos0, buf.attn);
    host_.matmul(buf.attn, t, qd, L.o, L.o_b, out);
  }

  void feed_forward(const LayerWeights& L, const float* x, int64_t t, const BlockBuffers& buf, float* out) {
    const Config& c = def_.cfg;
    const int64_t d = c.d_model, ff = c.d_ff;
    float *h = buf.h, *g = buf.g;
    if (c.gated_ffn) {
      host_.matmul_many(x, t, d, {{&L.gate, &L.gate_b, g}, {&L.up, &L.up_b, h}});
      host_.gated(c.activation, g, h, h, t * ff);
    } else {
      host_.matmul(x, t, d, L.up, L.up_b, h);
      host_.activate(c.activation, h, t * ff);
    }
    host_.matmul(h, t, ff, L.down, L.down_b, out);
  }

  // Final norm, hidden states and the logits of the last token.
  void finish(const mnemo_forward_args& a, float* x) {
    const Config& c = def_.cfg;
    const Weights& w = def_.w;
    const int64_t t = a.n_tokens, d = c.d_model;
    const float* last = x + (t - 1) * d;
    if (!w.out_norm.empty()) {
      if (a.hidden) {
        host_.norm(c.norm, x, w.out_norm, w.out_norm_b, t, d, c.norm_eps, a.hidden);
        last = a.hidden + (t - 1) * d;
      } else {
        float* y = host_.scratch(static_cast<uint64_t>(d));
        host_.norm(c.norm, last, w.out_norm, w.out_norm_b, 1, d, c.norm_eps, y);
        last = y;
      }
    } else if (a.hidden) {
      std::memcpy(a.hidden, x, sizeof(float) * static_cast<size_t>(t * d));
    }
    if (a.logits && !w.lm_head.empty()) host_.matmul(last, 1, d, w.lm_head, Weight{}, a.logits, MNEMO_OP_LM_HEAD);
  }

  Host host_;
  ModelDef def_;
  mnemo_attention_desc desc_{};
  std::vector<int32_t> positions_, zeros_;
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_transformer(const Host& host, ModelDef def) {
  validate(def);
  return std::make_unique<Transformer>(host, std::move(def));
}

}  // namespace transformer

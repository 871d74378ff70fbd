// The transformer stack as a model: embeddings, blocks of self-attention and a feed-forward
// network (pre-norm for decoders, post-norm for BERT), the final norm and the LM head. The
// transformer plugin runs it as it is; the rmt plugin derives from it and runs the same blocks
// over a segment's rows ([read memory | tokens | write memory]).
#pragma once

#include <memory>
#include <vector>

#include "model_def.hpp"

namespace transformer {

class Transformer : public mnemo::sdk::Model {
 public:
  Transformer(const Host& host, ModelDef def);

  mnemo_model_info info() const override;
  // Every layer is softmax attention over a KV cache, masked as the family is (causal decoders,
  // bidirectional encoders).
  mnemo_layer_desc layer(int32_t index) const override;
  void forward(const mnemo_forward_args& a) override;

 protected:
  // A block's intermediate activations. Every block reuses the same ones: scratch lives until
  // forward() returns, so taking it per block would hold n_layers copies (270 MB for SmolLM2 at
  // 540 tokens, all of which the next step's arena then has to hold too).
  struct BlockBuffers {
    View q, k, v, qkv, attn, h, g;
  };
  BlockBuffers block_buffers(int64_t t);

  // Rows of x = the token embeddings of `tokens` (ids checked against the vocabulary).
  void embed_tokens(const int32_t* tokens, const View& x);
  // Adds the learned position embeddings at `positions` to each row of x (models that have them).
  void add_learned_positions(const int32_t* positions, const View& x);
  // Every block over the rows of x, in place; the residual probe after each block sees rows
  // [probe_row0, probe_row0 + probe_rows) of x (the tokens among the rows).
  void blocks(const View& x, int64_t probe_row0, int64_t probe_rows);
  // Called by blocks() around block l with the rows x it runs on (the associative memory transformer
  // reads its per-layer memory into them before, and writes from them after). No-ops here.
  virtual void before_block(int32_t /*l*/, const View& /*x*/) {}
  virtual void after_block(int32_t /*l*/, const View& /*x*/) {}
  // Called by layer l's attention with its projections before RoPE rotates q and k, and with the
  // heads' outputs before the output projection (Infini-attention reads its compressive memory
  // with the unrotated q and mixes it into the outputs). No-ops here.
  virtual void before_rope(int32_t /*l*/, const View& /*q*/, const View& /*k*/, const View& /*v*/) {}
  virtual void after_attention(int32_t /*l*/, const View& /*heads_out*/) {}
  // y = the final norm of x (a copy where the model has none).
  void final_norm(const View& x, const View& y);
  // logits [1][vocab] of one row already through the final norm.
  void lm_head(const View& row, const View& logits);

  const Config& config() const { return def_.cfg; }
  const Weights& weights() const { return def_.w; }
  const Host& host() const { return host_; }

 private:
  void embed(const mnemo_forward_args& a, const View& x);
  void attention(int32_t l, const View& x, const BlockBuffers& buf, const View& out);
  void feed_forward(const LayerWeights& L, const View& x, const BlockBuffers& buf, const View& out);
  // Final norm, hidden states and the logits of the last token.
  void finish(const mnemo_forward_args& a, const View& x);

  Host host_;
  ModelDef def_;
  mnemo_layer_desc layer_{};
  int32_t lm_head_op_ = -1;
  std::vector<int32_t> zeros_;
};

// Validates the definition (shapes every family shares) and builds the model.
std::unique_ptr<mnemo::sdk::Model> make_transformer(const Host& host, ModelDef def);

}  // namespace transformer

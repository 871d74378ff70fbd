#include "infini_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "segmented_transformer.hpp"

namespace infini {
namespace {

using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using transformer::Host;
using transformer::ModelDef;

// The retrieval's denominator is a sum of positive terms; the guard only keeps a memory that
// underflowed from dividing by zero (as infini-transformer-pytorch clamps it).
constexpr float kDenominatorFloor = 1e-10f;

inline float elu_plus_one(float x) { return x > 0.f ? x + 1.f : std::exp(x); }

class InfiniAttention final : public transformer::SegmentedTransformer {
 public:
  struct LayerMemory {
    std::vector<float> gate;       // sigmoid(beta_h) per query head
    std::vector<float> M, z;       // [kv heads][d_k][d_v], [kv heads][d_k]
    std::vector<float> dM, dz;     // what the segment's tokens so far add when it completes
  };

  InfiniAttention(const Host& host, ModelDef def, const Settings& s, std::vector<LayerMemory> layers)
      : SegmentedTransformer(host, std::move(def), "infini", s.segment_size, 0, s.max_tokens), s_(s), layers_(std::move(layers)) {
    reset();
  }

  void reset() override {
    const auto& c = config();
    const size_t matrix = static_cast<size_t>(c.n_kv_heads) * static_cast<size_t>(c.head_dim) * static_cast<size_t>(c.head_dim);
    const size_t vector = static_cast<size_t>(c.n_kv_heads) * static_cast<size_t>(c.head_dim);
    for (LayerMemory& L : layers_) {
      L.M.assign(matrix, 0.f), L.dM.assign(matrix, 0.f);
      L.z.assign(vector, 0.f), L.dz.assign(vector, 0.f);
    }
    has_memory_ = false;
  }

  // One piece of a segment: its tokens at their places within the segment.
  void forward(const mnemo_forward_args& a) override {
    const int64_t n = a.n_tokens, d = config().d_model;
    const transformer::Piece piece = transformer::locate(a, s_.segment_size);
    rows_.clear();
    rows_.add_tokens(a, static_cast<int32_t>(piece.offset));
    rows_.publish(host());

    const View x = host().scratch(n, d);
    host().set_layer(-1);
    embed_tokens(a.tokens, x);
    add_learned_positions(rows_.positions(), x);
    blocks(x, 0, n);
    host().set_layer(-1);
    const View last = host().scratch(1, d);
    final_norm(mnemo::sdk::rows(x, n - 1, 1), last);
    lm_head(last, a.logits);
    if (a.hidden.buffer) final_norm(x, a.hidden);
    host().clear_rows();
    if (piece.completes) commit_segment();
  }

 protected:
  // Reads the memory with the unrotated queries, and adds the piece's keys and values to what
  // the segment will write.
  void before_rope(int32_t l, const View& q, const View& k, const View& v) override {
    const auto& c = config();
    LayerMemory& L = layers_[static_cast<size_t>(l)];
    const int64_t n = q.rows, dh = c.head_dim, group = c.n_heads / c.n_kv_heads;
    read(q, q_), read(k, k_), read(v, v_);
    for (float& e : q_) e = elu_plus_one(e);
    for (float& e : k_) e = elu_plus_one(e);
    if (has_memory_) {
      memory_out_.assign(static_cast<size_t>(n * c.n_heads * dh), 0.f);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t h = 0; h < c.n_heads; ++h)
          retrieve(L, h / group, &q_[static_cast<size_t>((t * c.n_heads + h) * dh)],
                   &memory_out_[static_cast<size_t>((t * c.n_heads + h) * dh)]);
    }
    std::vector<float> value(static_cast<size_t>(dh)), stored(static_cast<size_t>(dh));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t g = 0; g < c.n_kv_heads; ++g) {
        const float* key = &k_[static_cast<size_t>((t * c.n_kv_heads + g) * dh)];
        std::copy_n(&v_[static_cast<size_t>((t * c.n_kv_heads + g) * dh)], dh, value.begin());
        if (s_.delta_rule && has_memory_) {
          std::fill(stored.begin(), stored.end(), 0.f);
          retrieve(L, g, key, stored.data());
          for (int64_t e = 0; e < dh; ++e) value[static_cast<size_t>(e)] -= stored[static_cast<size_t>(e)];
        }
        float* dM = &L.dM[static_cast<size_t>(g * dh * dh)];
        float* dz = &L.dz[static_cast<size_t>(g * dh)];
        for (int64_t i = 0; i < dh; ++i) {
          dz[i] += key[i];
          for (int64_t e = 0; e < dh; ++e) dM[i * dh + e] += key[i] * value[static_cast<size_t>(e)];
        }
      }
  }

  // Each head's output becomes g A_mem + (1 - g) A_dot once there is a memory.
  void after_attention(int32_t l, const View& heads_out) override {
    if (!has_memory_) return;
    const auto& c = config();
    const LayerMemory& L = layers_[static_cast<size_t>(l)];
    const int64_t n = heads_out.rows, dh = c.head_dim;
    read(heads_out, out_);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < c.n_heads; ++h) {
        const float g = L.gate[static_cast<size_t>(h)];
        const size_t at = static_cast<size_t>((t * c.n_heads + h) * dh);
        for (int64_t e = 0; e < dh; ++e) out_[at + e] = g * memory_out_[at + e] + (1.f - g) * out_[at + e];
      }
    host().write(heads_out, out_.data());
  }

 private:
  // out [d_v] = sigma(q) M_g / (sigma(q) . z_g), for an already activated query or key.
  void retrieve(const LayerMemory& L, int64_t g, const float* key, float* out) const {
    const int64_t dh = config().head_dim;
    const float* M = &L.M[static_cast<size_t>(g * dh * dh)];
    const float* z = &L.z[static_cast<size_t>(g * dh)];
    double denominator = 0;
    for (int64_t i = 0; i < dh; ++i) {
      denominator += double{key[i]} * z[i];
      for (int64_t e = 0; e < dh; ++e) out[e] += key[i] * M[i * dh + e];
    }
    const float inv = 1.f / std::max(static_cast<float>(denominator), kDenominatorFloor);
    for (int64_t e = 0; e < dh; ++e) out[e] *= inv;
  }

  // The segment is complete: its keys and values join every layer's memory, which the probe
  // then shows ([kv heads x d_k][d_v] rows per layer).
  void commit_segment() {
    const auto& c = config();
    for (int32_t l = 0; l < c.n_layers; ++l) {
      LayerMemory& L = layers_[static_cast<size_t>(l)];
      for (size_t i = 0; i < L.M.size(); ++i) L.M[i] += L.dM[i];
      for (size_t i = 0; i < L.z.size(); ++i) L.z[i] += L.dz[i];
      std::fill(L.dM.begin(), L.dM.end(), 0.f);
      std::fill(L.dz.begin(), L.dz.end(), 0.f);
      host().set_layer(l);
      const View memory = host().scratch(int64_t{c.n_kv_heads} * c.head_dim, c.head_dim);
      host().write(memory, L.M.data());
      host().probe_memory(MNEMO_ROW_MEMORY_WRITE, memory);
    }
    host().set_layer(-1);
    has_memory_ = true;
  }

  void read(const View& v, std::vector<float>& out) const {
    out.resize(static_cast<size_t>(v.rows * v.cols));
    host().read(v, out.data());
  }

  Settings s_;
  std::vector<LayerMemory> layers_;
  bool has_memory_ = false;  // a segment has completed since reset()
  transformer::SegmentRows rows_;
  std::vector<float> q_, k_, v_, out_, memory_out_;  // work buffers, kept between forwards
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_infini(const Host& host, ModelDef def, const Settings& s) {
  transformer::validate(def);
  const auto& c = def.cfg;
  if (c.kind != MNEMO_MODEL_DECODER || c.mask != "causal")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "an infini backbone must be a causal decoder");
  if (s.segment_size > c.context_length)
    throw PluginError(MNEMO_ERR_INVALID, "a segment of " + std::to_string(s.segment_size) + " tokens needs as many positions; the backbone has " +
                                             std::to_string(c.context_length));
  std::vector<InfiniAttention::LayerMemory> layers(static_cast<size_t>(c.n_layers));
  for (int32_t l = 0; l < c.n_layers; ++l) {
    const std::string name = "infini." + std::to_string(l) + ".gate";
    const mnemo::sdk::Weight beta = host.require(name);
    Host::expect_shape(name, beta, {c.n_heads});
    auto& gate = layers[static_cast<size_t>(l)].gate;
    gate.resize(static_cast<size_t>(c.n_heads));
    host.dequantize(beta, gate.data());
    for (float& g : gate) g = 1.f / (1.f + std::exp(-g));
  }
  return std::make_unique<InfiniAttention>(host, std::move(def), s, std::move(layers));
}

}  // namespace infini

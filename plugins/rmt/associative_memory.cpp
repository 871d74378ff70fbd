#include "associative_memory.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "segmented_transformer.hpp"

namespace rmt {
namespace {

using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using mnemo::sdk::Weight;
using transformer::Host;
using transformer::locate;
using transformer::ModelDef;
using transformer::Piece;
using transformer::SegmentRows;

// The authors' constants: the denominator's guard, and F.normalize's.
constexpr float kDenominatorGuard = 1e-5f;
constexpr float kNormalizeEps = 1e-12f;

// key [2 n nu] = DPFP_nu(x [n]) divided by its L2 norm (kept 0 when it is 0), as the authors'
// phi then F.normalize: with y = [relu(x), relu(-x)], key[(j-1) 2n + i] = y[i] y[(i - j) mod 2n]
// for j = 1 .. nu (torch.roll by j). Returns |key|^2 after normalising (1, or 0).
float dpfp_key(const float* x, int64_t n, int32_t nu, std::vector<float>& y, float* key) {
  const int64_t w = 2 * n;
  y.resize(static_cast<size_t>(w));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = std::max(x[i], 0.f), y[static_cast<size_t>(n + i)] = std::max(-x[i], 0.f);
  double ss = 0;
  for (int32_t j = 1; j <= nu; ++j)
    for (int64_t i = 0; i < w; ++i) {
      const float v = y[static_cast<size_t>(i)] * y[static_cast<size_t>(((i - j) % w + w) % w)];
      key[(j - 1) * w + i] = v;
      ss += double{v} * v;
    }
  const float norm = static_cast<float>(std::sqrt(ss));
  const float inv = 1.f / std::max(norm, kNormalizeEps);
  double after = 0;
  for (int64_t i = 0; i < nu * w; ++i) key[i] *= inv, after += double{key[i]} * key[i];
  return static_cast<float>(after);
}

class AssociativeMemory final : public transformer::SegmentedTransformer {
 public:
  struct LayerMemory {
    Weight query, key, value, beta, beta_bias;  // W_mq [d_mem][d], W_mk [d_mem][d], W_mv [d][d], W_mb [H][d] + [H]
    std::vector<float> A;  // [H][d_key][d/H]
    std::vector<float> z;  // [H][d_key]
  };

  AssociativeMemory(const Host& host, ModelDef def, const Settings& s, const AssociativeSettings& m,
                    std::vector<float> memory, std::vector<LayerMemory> layers)
      : SegmentedTransformer(host, std::move(def), "armt", s.segment_size, s.memory_tokens, s.max_tokens),
        s_(s),
        m_(m),
        memory_(std::move(memory)),
        layers_(std::move(layers)) {
    query_dim_ = m_.d_mem / m_.heads;
    key_dim_ = 2 * int64_t{m_.nu} * query_dim_;
    value_dim_ = config().d_model / m_.heads;
    reset();
  }

  void reset() override {
    for (LayerMemory& L : layers_) {
      L.A.assign(static_cast<size_t>(m_.heads * key_dim_ * value_dim_), 0.f);
      L.z.assign(static_cast<size_t>(m_.heads * key_dim_), 0.f);
    }
    written_ = false;
  }

  // One piece of a segment: its tokens, and the memory rows when it completes the segment.
  void forward(const mnemo_forward_args& a) override {
    const int64_t n = a.n_tokens, M = s_.memory_tokens, d = config().d_model;
    const Piece piece = locate(a, s_.segment_size);
    writes_ = piece.completes;
    tokens_ = n;
    rows_.clear();
    rows_.add_tokens(a, static_cast<int32_t>(piece.offset));
    if (writes_) rows_.add_memory(M, s_.segment_size, MNEMO_ROW_MEMORY_WRITE);
    rows_.publish(host());

    const View x = host().scratch(rows_.size(), d);
    host().set_layer(-1);
    embed_tokens(a.tokens, mnemo::sdk::rows(x, 0, n));
    if (writes_) host().write(mnemo::sdk::rows(x, n, M), memory_.data());
    add_learned_positions(rows_.positions(), x);
    blocks(x, 0, n);
    host().set_layer(-1);

    const View tokens = mnemo::sdk::rows(x, 0, n);
    const View last = host().scratch(1, d);
    final_norm(mnemo::sdk::rows(tokens, n - 1, 1), last);
    lm_head(last, a.logits);
    if (a.hidden.buffer) final_norm(tokens, a.hidden);
    if (writes_) written_ = true;
    host().clear_rows();
  }

 protected:
  // Every row reads layer l's memory (nothing to read before the first segment has written).
  void before_block(int32_t l, const View& x) override {
    if (!written_) return;
    const LayerMemory& L = layers_[static_cast<size_t>(l)];
    const int64_t rows = x.rows, d = config().d_model;
    const View q = host().scratch(rows, m_.d_mem);
    host().matmul(x, L.query, Weight{}, q);
    read(q, q_);
    out_.assign(static_cast<size_t>(rows * d), 0.f);
    key_.resize(static_cast<size_t>(key_dim_));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t h = 0; h < m_.heads; ++h) {
        dpfp_key(&q_[static_cast<size_t>(r * m_.d_mem + h * query_dim_)], query_dim_, m_.nu, y_, key_.data());
        float* o = &out_[static_cast<size_t>(r * d + h * value_dim_)];
        const float denominator = retrieve(L, h, key_.data(), o) + kDenominatorGuard;
        for (int64_t c = 0; c < value_dim_; ++c) o[c] /= denominator;
      }
    const View read_out = host().scratch(rows, d);
    host().write(read_out, out_.data());
    host().add(x, read_out);
  }

  // The memory rows' outputs of block l write layer l's memory with the delta rule.
  void after_block(int32_t l, const View& x) override {
    if (!writes_) return;
    LayerMemory& L = layers_[static_cast<size_t>(l)];
    const int64_t M = s_.memory_tokens, d = config().d_model, H = m_.heads;
    const View rows = mnemo::sdk::rows(x, tokens_, M);
    const View k = host().scratch(M, m_.d_mem), v = host().scratch(M, d), b = host().scratch(M, H);
    host().matmul(rows, L.key, Weight{}, k);
    host().matmul(rows, L.value, Weight{}, v);
    host().matmul(rows, L.beta, L.beta_bias, b);
    read(k, k_), read(v, v_), read(b, b_);

    // Every write reads the memory as it was before this segment's writes (the authors' einsum).
    dA_.assign(L.A.size(), 0.f);
    dz_.assign(L.z.size(), 0.f);
    written_values_.assign(static_cast<size_t>(M * d), 0.f);
    key_.resize(static_cast<size_t>(key_dim_));
    std::vector<float> previous(static_cast<size_t>(value_dim_));
    for (int64_t j = 0; j < M; ++j)
      for (int64_t h = 0; h < H; ++h) {
        const float norm2 = dpfp_key(&k_[static_cast<size_t>(j * m_.d_mem + h * query_dim_)], query_dim_, m_.nu, y_, key_.data());
        float gamma = 1.f;
        std::fill(previous.begin(), previous.end(), 0.f);
        if (written_) {
          const float denominator = retrieve(L, h, key_.data(), previous.data()) + kDenominatorGuard;
          for (float& p : previous) p /= denominator;
          gamma = norm2 > 0 ? std::clamp(1.f - denominator / norm2, 0.f, 1.f) : 0.f;
        }
        const float beta = 1.f / (1.f + std::exp(-b_[static_cast<size_t>(j * H + h)]));
        const float* value = &v_[static_cast<size_t>(j * d + h * value_dim_)];
        float* written = &written_values_[static_cast<size_t>(j * d + h * value_dim_)];
        for (int64_t c = 0; c < value_dim_; ++c) written[c] = beta * (value[c] - previous[static_cast<size_t>(c)]);
        float* dA = &dA_[static_cast<size_t>(h * key_dim_ * value_dim_)];
        float* dz = &dz_[static_cast<size_t>(h * key_dim_)];
        for (int64_t i = 0; i < key_dim_; ++i) {
          const float ki = key_[static_cast<size_t>(i)];
          if (ki == 0.f) continue;  // DPFP keys are mostly zeros
          dz[i] += gamma * ki;
          for (int64_t c = 0; c < value_dim_; ++c) dA[i * value_dim_ + c] += ki * written[c];
        }
      }
    for (size_t i = 0; i < L.A.size(); ++i) L.A[i] += dA_[i];
    for (size_t i = 0; i < L.z.size(); ++i) L.z[i] += dz_[i];
    // What each memory row wrote into this layer (its norm: the row's share of the update).
    const View published = host().scratch(M, d);
    host().write(published, written_values_.data());
    host().probe_memory(MNEMO_ROW_MEMORY_WRITE, published);
  }

 private:
  // out [d/H] = key A_h; returns z_h . key.
  float retrieve(const LayerMemory& L, int64_t h, const float* key, float* out) const {
    const float* A = &L.A[static_cast<size_t>(h * key_dim_ * value_dim_)];
    const float* z = &L.z[static_cast<size_t>(h * key_dim_)];
    double zk = 0;
    for (int64_t i = 0; i < key_dim_; ++i) {
      if (key[i] == 0.f) continue;
      zk += double{z[i]} * key[i];
      for (int64_t c = 0; c < value_dim_; ++c) out[c] += key[i] * A[i * value_dim_ + c];
    }
    return static_cast<float>(zk);
  }

  void read(const View& v, std::vector<float>& out) const {
    out.resize(static_cast<size_t>(v.rows * v.cols));
    host().read(v, out.data());
  }

  Settings s_;
  AssociativeSettings m_;
  std::vector<float> memory_;  // the learned memory rows [M][d], the same in every segment
  std::vector<LayerMemory> layers_;
  int64_t query_dim_ = 0, key_dim_ = 0, value_dim_ = 0;  // per memory head
  bool written_ = false;  // a segment has completed since reset(): the memories are not empty
  bool writes_ = false;   // this forward completes its segment
  int64_t tokens_ = 0;    // this forward's tokens (the rows before the memory rows)
  SegmentRows rows_;
  std::vector<float> q_, k_, v_, b_, out_, key_, y_, dA_, dz_, written_values_;  // work buffers, kept between forwards
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_associative_memory(const Host& host, ModelDef def, const Settings& s,
                                                           const AssociativeSettings& m) {
  transformer::validate(def);
  const auto& c = def.cfg;
  if (c.kind != MNEMO_MODEL_DECODER || c.mask != "causal")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "an armt backbone must be a causal decoder");
  const int64_t rows = int64_t{s.segment_size} + s.memory_tokens;
  if (rows > c.context_length)
    throw PluginError(MNEMO_ERR_INVALID, "a segment of " + std::to_string(s.segment_size) + " tokens and " +
                                             std::to_string(s.memory_tokens) + " memory rows needs " + std::to_string(rows) +
                                             " positions; the backbone has " + std::to_string(c.context_length));
  if (m.d_mem % m.heads != 0 || c.d_model % m.heads != 0)
    throw PluginError(MNEMO_ERR_INVALID, "'memory_heads' = " + std::to_string(m.heads) + " does not divide d_mem = " +
                                             std::to_string(m.d_mem) + " and d_model = " + std::to_string(c.d_model));
  const Weight memory = host.require("memory");
  Host::expect_shape("memory", memory, {s.memory_tokens, c.d_model});
  std::vector<float> rows_init(static_cast<size_t>(s.memory_tokens) * static_cast<size_t>(c.d_model));
  host.dequantize(memory, rows_init.data());

  std::vector<AssociativeMemory::LayerMemory> layers(static_cast<size_t>(c.n_layers));
  for (int32_t l = 0; l < c.n_layers; ++l) {
    auto& L = layers[static_cast<size_t>(l)];
    const std::string base = "associative." + std::to_string(l) + ".";
    auto weight = [&](const std::string& name, std::initializer_list<int64_t> shape) {
      Weight w = host.require(base + name);
      Host::expect_shape(base + name, w, shape);
      return w;
    };
    L.query = weight("W_mq.weight", {m.d_mem, c.d_model});
    L.key = weight("W_mk.weight", {m.d_mem, c.d_model});
    L.value = weight("W_mv.weight", {c.d_model, c.d_model});
    L.beta = weight("W_mb.weight", {m.heads, c.d_model});
    L.beta_bias = weight("W_mb.bias", {m.heads});
  }
  return std::make_unique<AssociativeMemory>(host, std::move(def), s, m, std::move(rows_init), std::move(layers));
}

}  // namespace rmt

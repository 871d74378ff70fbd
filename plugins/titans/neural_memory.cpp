#include "neural_memory.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "transformer_model.hpp"

namespace titans {
namespace {

using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using mnemo::sdk::Weight;
using transformer::Host;
using transformer::ModelDef;

constexpr float kNormalizeEps = 1e-12f;  // F.normalize's

inline float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// x [n] divided by its L2 norm (F.normalize).
void normalize(float* x, int64_t n) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double{x[i]} * x[i];
  const float inv = 1.f / std::max(static_cast<float>(std::sqrt(ss)), kNormalizeEps);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

class NeuralMemory final : public transformer::Transformer {
 public:
  struct LayerMemory {
    Weight norm, query, key, value, out, alpha, alpha_b, eta, eta_b, theta, theta_b;
    std::vector<float> M, S;  // [H][d_h values][d_h keys]
  };

  NeuralMemory(const Host& host, ModelDef def, const Settings& s, std::vector<LayerMemory> layers)
      : Transformer(host, std::move(def)), s_(s), layers_(std::move(layers)) {
    reset();
  }

  mnemo_model_info info() const override {
    mnemo_model_info i = Transformer::info();
    mnemo::sdk::copy_name(i.architecture, "titans");
    return i;
  }

  void reset() override {
    const size_t size = static_cast<size_t>(s_.heads) * static_cast<size_t>(s_.head_dim) * static_cast<size_t>(s_.head_dim);
    for (LayerMemory& L : layers_) L.M.assign(size, 0.f), L.S.assign(size, 0.f);
  }

 protected:
  // The memory layer in front of block l: x += W_o y, the memory updated by each token in turn.
  void before_block(int32_t l, const View& x) override {
    LayerMemory& L = layers_[static_cast<size_t>(l)];
    const int64_t n = x.rows, d = config().d_model, H = s_.heads, dh = s_.head_dim, inner = H * dh;
    const View h = host().scratch(n, d);
    host().norm(MNEMO_NORM_RMS, x, L.norm, Weight{}, s_.norm_eps, h);
    const View q = host().scratch(n, inner), k = host().scratch(n, inner), v = host().scratch(n, inner);
    const View a = host().scratch(n, H), e = host().scratch(n, H), th = host().scratch(n, H);
    const Weight none;
    host().matmul_many(h, {{&L.query, &none, q}, {&L.key, &none, k}, {&L.value, &none, v}});
    host().matmul_many(h, {{&L.alpha, &L.alpha_b, a}, {&L.eta, &L.eta_b, e}, {&L.theta, &L.theta_b, th}});
    read(q, q_), read(k, k_), read(v, v_), read(a, alpha_), read(e, eta_), read(th, theta_);

    y_.assign(static_cast<size_t>(n * inner), 0.f);
    error_.resize(static_cast<size_t>(dh));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t hd = 0; hd < H; ++hd) {
        float* qt = &q_[static_cast<size_t>(t * inner + hd * dh)];
        float* kt = &k_[static_cast<size_t>(t * inner + hd * dh)];
        const float* vt = &v_[static_cast<size_t>(t * inner + hd * dh)];
        normalize(qt, dh), normalize(kt, dh);
        const size_t g = static_cast<size_t>(t * H + hd);
        const float forget = 1.f - sigmoid(alpha_[g]), momentum = sigmoid(eta_[g]), step = s_.max_lr * sigmoid(theta_[g]);
        float* M = &L.M[static_cast<size_t>(hd * dh * dh)];
        float* S = &L.S[static_cast<size_t>(hd * dh * dh)];
        for (int64_t i = 0; i < dh; ++i) {  // the error M k - v, before this token's update
          float m = 0;
          for (int64_t j = 0; j < dh; ++j) m += M[i * dh + j] * kt[j];
          error_[static_cast<size_t>(i)] = m - vt[i];
        }
        float* y = &y_[static_cast<size_t>(t * inner + hd * dh)];
        for (int64_t i = 0; i < dh; ++i) {
          const float ei = step * error_[static_cast<size_t>(i)];
          float yi = 0;
          for (int64_t j = 0; j < dh; ++j) {
            float& s = S[i * dh + j];
            s = momentum * s - ei * kt[j];
            float& m = M[i * dh + j];
            m = forget * m + s;
            yi += m * qt[j];
          }
          y[i] = yi;
        }
      }
    const View y = host().scratch(n, inner), out = host().scratch(n, d);
    host().write(y, y_.data());
    host().matmul(y, L.out, Weight{}, out);
    host().add(x, out);
  }

 private:
  void read(const View& v, std::vector<float>& out) const {
    out.resize(static_cast<size_t>(v.rows * v.cols));
    host().read(v, out.data());
  }

  Settings s_;
  std::vector<LayerMemory> layers_;
  std::vector<float> q_, k_, v_, alpha_, eta_, theta_, y_, error_;  // work buffers, kept between forwards
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_neural_memory(const Host& host, ModelDef def, const Settings& s) {
  transformer::validate(def);
  const auto& c = def.cfg;
  if (c.kind != MNEMO_MODEL_DECODER || c.mask != "causal")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "a titans backbone must be a causal decoder");
  const int64_t inner = int64_t{s.heads} * s.head_dim, d = c.d_model;
  std::vector<NeuralMemory::LayerMemory> layers(static_cast<size_t>(c.n_layers));
  for (int32_t l = 0; l < c.n_layers; ++l) {
    auto& L = layers[static_cast<size_t>(l)];
    const std::string base = "titans." + std::to_string(l) + ".";
    auto weight = [&](const std::string& name, std::initializer_list<int64_t> shape) {
      Weight w = host.require(base + name);
      Host::expect_shape(base + name, w, shape);
      return w;
    };
    L.norm = weight("norm.weight", {d});
    L.query = weight("W_q.weight", {inner, d});
    L.key = weight("W_k.weight", {inner, d});
    L.value = weight("W_v.weight", {inner, d});
    L.out = weight("W_o.weight", {d, inner});
    L.alpha = weight("W_alpha.weight", {s.heads, d}), L.alpha_b = weight("W_alpha.bias", {s.heads});
    L.eta = weight("W_eta.weight", {s.heads, d}), L.eta_b = weight("W_eta.bias", {s.heads});
    L.theta = weight("W_theta.weight", {s.heads, d}), L.theta_b = weight("W_theta.bias", {s.heads});
  }
  return std::make_unique<NeuralMemory>(host, std::move(def), s, std::move(layers));
}

}  // namespace titans

// What architecture files share: hyperparameter lookup, shape validation, transposed copies.
// Compiled into every plugin that runs a transformer stack (transformer, rmt).
#include <string>

#include "model_def.hpp"

namespace transformer {

int32_t hparam_int(const Host& host, std::initializer_list<const char*> keys) {
  std::string tried;
  for (const char* key : keys) {
    if (auto v = host.meta_int(key)) {
      if (*v <= 0 || *v > (int64_t{1} << 24))
        throw PluginError(MNEMO_ERR_INVALID, std::string("metadata '") + key + "' = " + std::to_string(*v) + " is out of range");
      return static_cast<int32_t>(*v);
    }
    tried += (tried.empty() ? "'" : ", '") + std::string(key) + "'";
  }
  throw PluginError(MNEMO_ERR_MISSING, "missing integer hyperparameter " + tried);
}

float hparam_float(const Host& host, std::initializer_list<const char*> keys, float fallback) {
  for (const char* key : keys)
    if (auto v = host.meta_float(key)) return static_cast<float>(*v);
  return fallback;
}

void finish_learned_position_mha(ModelDef& m) {
  Config& c = m.cfg;
  if (c.d_model % c.n_heads != 0)
    throw PluginError(MNEMO_ERR_INVALID, "embedding width " + std::to_string(c.d_model) +
                                             " is not a multiple of the head count " + std::to_string(c.n_heads));
  c.n_kv_heads = c.n_heads;
  c.head_dim = c.d_model / c.n_heads;
  c.vocab_size = static_cast<int32_t>(m.w.tok_embd.dim(0));
  const int64_t positions = m.w.pos_embd.dim(0);
  if (positions < c.context_length) c.context_length = static_cast<int32_t>(positions);
}

void affine(const Host& host, const std::string& base, Weight& weight, Weight& bias) {
  weight = host.require(base + ".weight");
  bias = host.tensor(base + ".bias");
}

Weight transposed(const Host& host, const Weight& w, const char* name) {
  if (w.t.ndim != 2) throw PluginError(MNEMO_ERR_INVALID, std::string("tensor '") + name + "' is not a matrix");
  const int64_t rows = w.t.shape[0], cols = w.t.shape[1];
  std::vector<float> src(static_cast<size_t>(rows * cols));
  host.dequantize(w, src.data());
  Weight out;
  float* dst = host.alloc_weight({cols, rows}, &out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[static_cast<size_t>(r * cols + c)];
  return out;
}

namespace {

void expect_vec(const char* what, int l, const Weight& w, int64_t n) {
  if (w.empty()) return;
  if (w.t.ndim != 1 || w.t.shape[0] != n)
    throw PluginError(MNEMO_ERR_INVALID, std::string(what) + " of layer " + std::to_string(l) + " must have " +
                                             std::to_string(n) + " elements");
}

void expect_mat(const char* what, int l, const Weight& w, int64_t rows, int64_t cols) {
  if (w.empty()) throw PluginError(MNEMO_ERR_MISSING, std::string(what) + " of layer " + std::to_string(l) + " is missing");
  if (w.t.ndim != 2 || w.t.shape[0] != rows || w.t.shape[1] != cols)
    throw PluginError(MNEMO_ERR_INVALID, std::string(what) + " of layer " + std::to_string(l) + " must be [" +
                                             std::to_string(rows) + ", " + std::to_string(cols) + "], found [" +
                                             std::to_string(w.t.shape[0]) + ", " + std::to_string(w.t.ndim > 1 ? w.t.shape[1] : 0) + "]");
}

}  // namespace

void validate(const ModelDef& def) {
  const Config& c = def.cfg;
  if (c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0)
    throw PluginError(MNEMO_ERR_INVALID, "head count " + std::to_string(c.n_heads) + " is not a multiple of the KV head count " +
                                             std::to_string(c.n_kv_heads));
  if (c.head_dim <= 0 || c.head_dim > 1024) throw PluginError(MNEMO_ERR_INVALID, "head dimension out of range");
  if (c.rope && (c.n_rot <= 0 || c.n_rot > c.head_dim || c.n_rot % 2))
    throw PluginError(MNEMO_ERR_INVALID, "rotary dimension " + std::to_string(c.n_rot) + " must be even and at most the head dimension");
  if (static_cast<int32_t>(def.w.layers.size()) != c.n_layers) throw PluginError(MNEMO_ERR_INVALID, "layer count mismatch");
  const int64_t d = c.d_model, qd = int64_t{c.n_heads} * c.head_dim, kvd = int64_t{c.n_kv_heads} * c.head_dim;
  expect_mat("token embedding", -1, def.w.tok_embd, c.vocab_size, d);
  if (!def.w.pos_embd.empty() && (def.w.pos_embd.t.ndim != 2 || def.w.pos_embd.dim(1) != d))
    throw PluginError(MNEMO_ERR_INVALID, "position embedding must be [positions, " + std::to_string(d) + "]");
  if (!def.w.lm_head.empty()) expect_mat("output head", -1, def.w.lm_head, c.vocab_size, d);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = def.w.layers[static_cast<size_t>(l)];
    expect_vec("attention norm", l, L.attn_norm, d);
    expect_vec("attention norm bias", l, L.attn_norm_b, d);
    if (L.attn_norm.empty() || L.ffn_norm.empty()) throw PluginError(MNEMO_ERR_MISSING, "norm weights of layer " + std::to_string(l) + " are missing");
    if (!L.qkv.empty()) {
      expect_mat("fused QKV projection", l, L.qkv, qd + 2 * kvd, d);
      expect_vec("fused QKV bias", l, L.qkv_b, qd + 2 * kvd);
    } else {
      expect_mat("query projection", l, L.q, qd, d);
      expect_mat("key projection", l, L.k, kvd, d);
      expect_mat("value projection", l, L.v, kvd, d);
      expect_vec("query bias", l, L.q_b, qd);
      expect_vec("key bias", l, L.k_b, kvd);
      expect_vec("value bias", l, L.v_b, kvd);
    }
    expect_mat("output projection", l, L.o, d, qd);
    expect_vec("output projection bias", l, L.o_b, d);
    expect_vec("feed-forward norm", l, L.ffn_norm, d);
    expect_mat("up projection", l, L.up, c.d_ff, d);
    expect_vec("up bias", l, L.up_b, c.d_ff);
    if (c.gated_ffn) expect_mat("gate projection", l, L.gate, c.d_ff, d);
    expect_mat("down projection", l, L.down, d, c.d_ff);
    expect_vec("down bias", l, L.down_b, d);
  }
}

}  // namespace transformer

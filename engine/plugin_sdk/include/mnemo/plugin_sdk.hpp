// The plugin-side C++ adapter over mnemo/plugin_abi.h: plugin code works with a Host object,
// throws PluginError, and derives its model from sdk::Model; MNEMO_DEFINE_PLUGIN turns that into
// the C entry point, catching every exception at the boundary.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mnemo/plugin_abi.h"

namespace mnemo::sdk {

class PluginError : public std::exception {
 public:
  PluginError(mnemo_status status, std::string message) : status_(status), message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
  mnemo_status status() const { return status_; }

 private:
  mnemo_status status_;
  std::string message_;
};

// A weight tensor handle; empty() when an optional tensor is absent.
struct Weight {
  mnemo_tensor t{};
  bool present = false;
  bool empty() const { return !present; }
  const mnemo_tensor* ptr() const { return present ? &t : nullptr; }
  int64_t dim(int i) const { return t.shape[i]; }
};

// A 2-D view of an activation buffer (mnemo_view): the plugin never sees the buffer's memory.
using View = mnemo_view;

// Rows [r0, r0 + n) of v.
inline View rows(const View& v, int64_t r0, int64_t n) { return {v.buffer, v.offset + r0 * v.stride, n, v.cols, v.stride}; }
// Columns [c0, c0 + n) of every row of v (e.g. the Q, K or V part of a fused QKV row).
inline View cols(const View& v, int64_t c0, int64_t n) { return {v.buffer, v.offset + c0, v.rows, n, v.stride}; }
// The same elements seen as rows of `width` (v must be contiguous).
inline View reshape(const View& v, int64_t width) { return {v.buffer, v.offset, v.rows * v.cols / width, width, width}; }

// Copies a kind name into a descriptor's fixed-size field.
template <size_t N>
inline void set_name(char (&dst)[N], std::string_view src) {
  const size_t n = std::min(src.size(), N - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

// A layer of softmax attention over a KV cache (mask "causal", "none" or "window").
inline mnemo_layer_desc softmax_layer(int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, std::string_view mask,
                                      int32_t window, float scale) {
  mnemo_layer_desc d{};
  d.struct_size = sizeof d;
  set_name(d.mixer, "softmax");
  set_name(d.memory, "kv_cache");
  d.n_heads = n_heads;
  d.n_kv_heads = n_kv_heads;
  d.key_dim = head_dim;
  d.value_dim = head_dim;
  set_name(d.mask, mask);
  d.window = window;
  d.scale = scale;
  return d;
}

// A layer of a recurrent family over a [heads][rows][cols] state (and a convolution window of
// conv_channels × conv_width when conv_width > 1).
inline mnemo_layer_desc recurrent_layer(std::string_view mixer, int32_t n_heads, int32_t key_dim, int32_t value_dim,
                                        int32_t state_rows, int32_t state_cols, int32_t conv_width = 0,
                                        int32_t conv_channels = 0) {
  mnemo_layer_desc d{};
  d.struct_size = sizeof d;
  set_name(d.mixer, mixer);
  set_name(d.memory, "recurrent_state");
  d.n_heads = n_heads;
  d.n_kv_heads = n_heads;
  d.key_dim = key_dim;
  d.value_dim = value_dim;
  d.state_rows = state_rows;
  d.state_cols = state_cols;
  d.conv_width = conv_width;
  d.conv_channels = conv_width > 1 ? conv_channels : 0;
  return d;
}

class Host {
 public:
  Host(const mnemo_host_api* api, mnemo_host* h) : api_(api), h_(h) {}

  std::string format() const { return api_->file_format(h_); }
  bool is_gguf() const { return format() == "gguf"; }

  std::optional<int64_t> meta_int(const std::string& key) const {
    int64_t v = 0;
    return api_->meta_int(h_, key.c_str(), &v) == 1 ? std::optional<int64_t>(v) : std::nullopt;
  }
  std::optional<double> meta_float(const std::string& key) const {
    double v = 0;
    return api_->meta_float(h_, key.c_str(), &v) == 1 ? std::optional<double>(v) : std::nullopt;
  }
  std::optional<bool> meta_bool(const std::string& key) const {
    int v = 0;
    return api_->meta_bool(h_, key.c_str(), &v) == 1 ? std::optional<bool>(v != 0) : std::nullopt;
  }
  std::optional<std::string> meta_string(const std::string& key) const {
    const char* v = nullptr;
    return api_->meta_string(h_, key.c_str(), &v) == 1 ? std::optional<std::string>(v) : std::nullopt;
  }
  int64_t require_int(const std::string& key) const {
    if (auto v = meta_int(key)) return *v;
    throw PluginError(MNEMO_ERR_MISSING, "missing or non-integer metadata key '" + key + "'");
  }
  double require_float(const std::string& key) const {
    if (auto v = meta_float(key)) return *v;
    throw PluginError(MNEMO_ERR_MISSING, "missing or non-numeric metadata key '" + key + "'");
  }

  Weight tensor(const std::string& name) const {
    Weight w;
    w.present = api_->tensor(h_, name.c_str(), &w.t) == 1;
    return w;
  }
  Weight require(const std::string& name) const {
    Weight w = tensor(name);
    if (w.empty()) throw PluginError(MNEMO_ERR_MISSING, "missing tensor '" + name + "'");
    return w;
  }
  // Checks that a tensor has the expected shape (outermost first).
  static void expect_shape(const std::string& name, const Weight& w, std::initializer_list<int64_t> shape) {
    bool ok = w.t.ndim == static_cast<int32_t>(shape.size());
    int i = 0;
    for (int64_t d : shape) ok = ok && w.t.shape[i++] == d;
    if (!ok) {
      std::string got = "[", want = "[";
      for (int k = 0; k < w.t.ndim; ++k) got += (k ? ", " : "") + std::to_string(w.t.shape[k]);
      i = 0;
      for (int64_t d : shape) want += (i++ ? ", " : "") + std::to_string(d);
      throw PluginError(MNEMO_ERR_INVALID, "tensor '" + name + "' has shape " + got + "], expected " + want + "]");
    }
  }
  float* alloc_weight(std::initializer_list<int64_t> shape, Weight* out) const {
    int64_t dims[4] = {};
    int n = 0;
    for (int64_t d : shape) dims[n++] = d;
    out->present = true;
    return api_->alloc_weight(h_, n, dims, &out->t);
  }

  void dequantize(const Weight& w, float* out) const {
    if (api_->dequantize(h_, &w.t, out) != MNEMO_OK)
      throw PluginError(MNEMO_ERR_UNSUPPORTED, "cannot convert a tensor of dtype " + std::to_string(w.t.dtype) + " to f32");
  }

  // The id of op kind `name` (e.g. "lm_head"), to label the timings of ops given it.
  int32_t op_kind(const std::string& name) const { return api_->op_kind(h_, name.c_str()); }

  // A contiguous [rows][cols] activation buffer valid until forward() returns.
  View scratch(int64_t rows, int64_t cols) const {
    const View v = api_->scratch(h_, rows, cols);
    if (!v.buffer) throw PluginError(MNEMO_ERR_INTERNAL, "the host has no scratch for " + std::to_string(rows) + " × " + std::to_string(cols));
    return v;
  }
  void write(const View& dst, const float* src) const { check(api_->write(h_, dst, src), "write"); }
  void read(const View& src, float* dst) const { check(api_->read(h_, src, dst), "read"); }
  void set_layer(int32_t layer) const { api_->set_layer(h_, layer); }

  // out row i = table row ids[i].
  void embed(const Weight& table, const int32_t* ids, const View& out) const {
    if (api_->embed(h_, &table.t, ids, out) != MNEMO_OK)
      throw PluginError(MNEMO_ERR_INVALID, "token id out of range for the embedding table");
  }
  // y = x · wᵀ (+ bias); op: a kind from op_kind() to time it under, or -1 for "matmul".
  void matmul(const View& x, const Weight& w, const Weight& bias, const View& y, int32_t op = -1) const {
    api_->matmul(h_, op, x, &w.t, bias.ptr(), y);
  }
  // Several products of the same x (Q/K/V, gate/up) in one parallel section for a decode step.
  struct Product {
    const Weight* w;
    const Weight* bias;
    View y;
  };
  void matmul_many(const View& x, std::initializer_list<Product> products) const {
    constexpr size_t kMax = 8;
    if (products.size() > kMax) throw PluginError(MNEMO_ERR_INTERNAL, "matmul_many takes at most 8 products");
    const mnemo_tensor* w[kMax];
    const mnemo_tensor* b[kMax];
    View y[kMax];
    int32_t n = 0;
    for (const auto& p : products) {
      w[n] = &p.w->t;
      b[n] = p.bias->ptr();
      y[n] = p.y;
      ++n;
    }
    api_->matmul_many(h_, -1, x, n, w, b, y);
  }
  void norm(int32_t kind, const View& x, const Weight& w, const Weight& b, float eps, const View& y) const {
    api_->norm(h_, kind, x, &w.t, b.ptr(), eps, y);
  }
  // Rotary embedding of x = [t][n_heads * head_dim] at the forward's positions.
  void rope(const View& x, int32_t n_heads, int32_t head_dim, int32_t n_rot, float theta, int32_t mode) const {
    api_->rope(h_, x, n_heads, head_dim, n_rot, nullptr, theta, mode);
  }
  void activate(int32_t act, const View& x) const { api_->activate(h_, act, x); }
  void gated(int32_t act, const View& gate, const View& up, const View& out) const { api_->gated(h_, act, gate, up, out); }
  void add(const View& y, const View& x) const { api_->add(h_, y, x); }
  void add_bias(const View& y, const Weight& bias) const {
    if (bias.present) api_->add_bias(h_, y, &bias.t);
  }
  void copy(const View& dst, const View& src) const { api_->copy(h_, dst, src); }
  // Softmax attention of a layer declared "softmax" + "kv_cache" (see mnemo_host_api::attention).
  void attention(int32_t layer, const View& q, const View& k, const View& v, const View& out) const {
    const mnemo_status s = api_->attention(h_, layer, q, k, v, out);
    if (s != MNEMO_OK) throw PluginError(s, "attention failed in layer " + std::to_string(layer));
  }
  // A part of a layer's memory ("state", "conv"); a view with no buffer when it has none.
  View memory_view(int32_t layer, const char* part) const { return api_->memory_view(h_, layer, part); }
  void probe_residual(int32_t layer, const View& x) const { api_->probe_residual(h_, layer, x); }

  // ABI 2.1: the recurrent families' mixers; a host older than 2.1 has no such entries, which
  // these report instead of calling past the end of its table.
  bool has_recurrent_mixers() const {
    return api_->struct_size >= offsetof(mnemo_host_api, ssm_scan) + sizeof(api_->ssm_scan) && api_->ssm_scan;
  }
  void linear_mixer(int32_t layer, mnemo_linear_mixer_args args) const {
    require_recurrent_mixers();
    args.struct_size = sizeof args;
    const mnemo_status s = api_->linear_mixer(h_, layer, &args);
    if (s != MNEMO_OK) throw PluginError(s, "linear mixer failed in layer " + std::to_string(layer));
  }
  void causal_conv1d(int32_t layer, const View& x, const Weight& w, const Weight& bias, bool silu, const View& out) const {
    require_recurrent_mixers();
    const mnemo_status s = api_->causal_conv1d(h_, layer, x, &w.t, bias.ptr(), silu ? 1 : 0, out);
    if (s != MNEMO_OK) throw PluginError(s, "causal conv1d failed in layer " + std::to_string(layer));
  }
  void ssm_scan(int32_t layer, mnemo_ssm_args args) const {
    require_recurrent_mixers();
    args.struct_size = sizeof args;
    const mnemo_status s = api_->ssm_scan(h_, layer, &args);
    if (s != MNEMO_OK) throw PluginError(s, "ssm scan failed in layer " + std::to_string(layer));
  }
  // ABI 2.2: the rows of the ops that follow (see mnemo_host_api::set_rows); the forward's tokens
  // again after clear_rows().
  bool has_rows() const {
    return api_->struct_size >= offsetof(mnemo_host_api, probe_memory) + sizeof(api_->probe_memory) && api_->set_rows;
  }
  void set_rows(const mnemo_rows& rows) const {
    if (!has_rows())
      throw PluginError(MNEMO_ERR_UNSUPPORTED, "the host's plugin ABI " + std::to_string(api_->abi_major) + "." +
                                                   std::to_string(api_->abi_minor) + " has no memory rows (2.2 has)");
    mnemo_rows r = rows;
    r.struct_size = sizeof r;
    check(api_->set_rows(h_, &r), "set_rows");
  }
  void clear_rows() const {
    if (has_rows()) check(api_->set_rows(h_, nullptr), "set_rows");
  }
  void probe_memory(int32_t role, const View& rows) const {
    if (has_rows()) api_->probe_memory(h_, role, rows);
  }
  void set_error(const std::string& message) const { api_->set_error(h_, message.c_str()); }

 private:
  void require_recurrent_mixers() const {
    if (!has_recurrent_mixers())
      throw PluginError(MNEMO_ERR_UNSUPPORTED, "the host's plugin ABI " + std::to_string(api_->abi_major) + "." +
                                                   std::to_string(api_->abi_minor) + " has no recurrent mixers (2.1 has)");
  }
  static void check(mnemo_status s, const char* what) {
    if (s != MNEMO_OK) throw PluginError(s, std::string(what) + " failed");
  }
  const mnemo_host_api* api_;
  mnemo_host* h_;
};

// Base class of a plugin's model.
class Model {
 public:
  virtual ~Model() = default;
  virtual mnemo_model_info info() const = 0;
  // Layer `index` (0 .. n_layers-1): mixer, memory, shapes.
  virtual mnemo_layer_desc layer(int32_t index) const = 0;
  virtual void forward(const mnemo_forward_args& args) = 0;
  // The next forward starts a new sequence; override when the model keeps state of its own.
  virtual void reset() {}
  // ABI 2.2: how the host cuts the input into segments; a segment_length of 0 (the default): not.
  virtual mnemo_segment_info segments() const { return {}; }
};

inline void copy_name(char (&dst)[32], std::string_view src) {
  const size_t n = std::min(src.size(), sizeof(dst) - 1);
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

namespace detail {

struct ModelBox {
  std::unique_ptr<Model> model;
  Host host;
};

template <class Factory>
mnemo_status create(Factory factory, const mnemo_host_api* api, mnemo_host* h, const char* options,
                    mnemo_model** out) {
  *out = nullptr;
  Host host(api, h);
  if (api->abi_major != MNEMO_PLUGIN_ABI_MAJOR) {
    host.set_error("host ABI major differs from the plugin's");
    return MNEMO_ERR_UNSUPPORTED;
  }
  try {
    auto box = std::make_unique<ModelBox>(ModelBox{factory(host, options ? options : "{}"), host});
    *out = reinterpret_cast<mnemo_model*>(box.release());
    return MNEMO_OK;
  } catch (const PluginError& e) {
    host.set_error(e.what());
    return e.status();
  } catch (const std::exception& e) {
    host.set_error(e.what());
    return MNEMO_ERR_INTERNAL;
  } catch (...) {
    host.set_error("unknown error");
    return MNEMO_ERR_INTERNAL;
  }
}

inline ModelBox* box(mnemo_model* m) { return reinterpret_cast<ModelBox*>(m); }
inline const ModelBox* box(const mnemo_model* m) { return reinterpret_cast<const ModelBox*>(m); }

// Runs body, turning any exception into a status and the host's error message.
template <class F>
mnemo_status guarded(const ModelBox* b, F&& body) {
  try {
    body();
    return MNEMO_OK;
  } catch (const PluginError& e) {
    b->host.set_error(e.what());
    return e.status();
  } catch (const std::exception& e) {
    b->host.set_error(e.what());
    return MNEMO_ERR_INTERNAL;
  } catch (...) {
    b->host.set_error("unknown error");
    return MNEMO_ERR_INTERNAL;
  }
}

inline mnemo_status forward(mnemo_model* m, const mnemo_forward_args* args) {
  return guarded(box(m), [&] { box(m)->model->forward(*args); });
}

inline mnemo_status layer(const mnemo_model* m, int32_t index, mnemo_layer_desc* out) {
  return guarded(box(m), [&] {
    const uint32_t room = out->struct_size;
    mnemo_layer_desc d = box(m)->model->layer(index);
    d.struct_size = sizeof d;
    std::memcpy(out, &d, std::min<size_t>(room ? room : sizeof d, sizeof d));
  });
}

inline mnemo_status segments(const mnemo_model* m, mnemo_segment_info* out) {
  return guarded(box(m), [&] {
    const uint32_t room = out->struct_size;
    mnemo_segment_info s = box(m)->model->segments();
    s.struct_size = sizeof s;
    std::memcpy(out, &s, std::min<size_t>(room ? room : sizeof s, sizeof s));
  });
}

inline void reset(mnemo_model* m) {
  guarded(box(m), [&] { box(m)->model->reset(); });
}

}  // namespace detail
}  // namespace mnemo::sdk

// Defines the plugin's entry point. `factory` is callable as
// std::unique_ptr<mnemo::sdk::Model>(const mnemo::sdk::Host&, std::string_view options_json).
#define MNEMO_DEFINE_PLUGIN(plugin_id, plugin_version, architectures_array, factory)                     \
  extern "C" MNEMO_PLUGIN_EXPORT const mnemo_plugin_api* mnemo_plugin_entry(uint32_t, uint32_t) {     \
    static const mnemo_plugin_api api = {                                                             \
        MNEMO_PLUGIN_ABI_MAJOR,                                                                       \
        MNEMO_PLUGIN_ABI_MINOR,                                                                       \
        sizeof(mnemo_plugin_api),                                                                     \
        plugin_id,                                                                                    \
        plugin_version,                                                                               \
        architectures_array,                                                                          \
        [](const mnemo_host_api* a, mnemo_host* h, const char* o, mnemo_model** out) {                \
          return mnemo::sdk::detail::create(factory, a, h, o, out);                                   \
        },                                                                                            \
        [](mnemo_model* m) { delete mnemo::sdk::detail::box(m); },                                    \
        [](const mnemo_model* m, mnemo_model_info* out) { *out = mnemo::sdk::detail::box(m)->model->info(); }, \
        [](const mnemo_model* m, int32_t i, mnemo_layer_desc* out) { return mnemo::sdk::detail::layer(m, i, out); }, \
        [](mnemo_model* m, const mnemo_forward_args* args) { return mnemo::sdk::detail::forward(m, args); }, \
        [](mnemo_model* m) { mnemo::sdk::detail::reset(m); },                                       \
        [](const mnemo_model* m, mnemo_segment_info* out) { return mnemo::sdk::detail::segments(m, out); }, \
    };                                                                                                \
    return &api;                                                                                      \
  }

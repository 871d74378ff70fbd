// The plugin-side C++ adapter over mnemo/plugin_abi.h: plugin code works with a Host object,
// throws PluginError, and derives its model from sdk::Model; MNEMO_DEFINE_PLUGIN turns that into
// the C entry point, catching every exception at the boundary.
#pragma once

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

  float* scratch(uint64_t n) const { return api_->scratch(h_, n); }
  void set_layer(int32_t layer) const { api_->set_layer(h_, layer); }

  void embed(const Weight& table, const int32_t* ids, int64_t n, float* out) const {
    if (api_->embed(h_, &table.t, ids, n, out) != MNEMO_OK)
      throw PluginError(MNEMO_ERR_INVALID, "token id out of range for the embedding table");
  }
  void matmul(const float* x, int64_t m, int64_t k, const Weight& w, const Weight& bias, float* y,
              int32_t op = MNEMO_OP_MATMUL) const {
    api_->matmul(h_, op, x, m, k, &w.t, bias.ptr(), y);
  }
  // Several products of the same x (Q/K/V, gate/up) in one parallel section where the host
  // offers it (ABI 1.1); one matmul each on older hosts.
  struct Product {
    const Weight* w;
    const Weight* bias;
    float* y;
  };
  void matmul_many(const float* x, int64_t m, int64_t k, std::initializer_list<Product> products) const {
    constexpr size_t kMax = 8;
    if (products.size() > kMax || api_->struct_size < offsetof(mnemo_host_api, matmul_many) + sizeof(api_->matmul_many)) {
      for (const auto& p : products) matmul(x, m, k, *p.w, *p.bias, p.y);
      return;
    }
    const mnemo_tensor* w[kMax];
    const mnemo_tensor* b[kMax];
    float* y[kMax];
    int32_t n = 0;
    for (const auto& p : products) {
      w[n] = &p.w->t;
      b[n] = p.bias->ptr();
      y[n] = p.y;
      ++n;
    }
    api_->matmul_many(h_, MNEMO_OP_MATMUL, x, m, k, n, w, b, y);
  }
  void norm(int32_t kind, const float* x, const Weight& w, const Weight& b, int64_t rows, int64_t n, float eps,
            float* y) const {
    api_->norm(h_, kind, x, &w.t, b.ptr(), rows, n, eps, y);
  }
  void rope(float* x, int64_t t, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos0, float theta,
            int32_t mode) const {
    api_->rope(h_, x, t, n_heads, head_dim, n_rot, pos0, theta, mode);
  }
  void activate(int32_t act, float* x, int64_t n) const { api_->activate(h_, act, x, n); }
  void gated(int32_t act, const float* gate, const float* up, float* out, int64_t n) const {
    api_->gated(h_, act, gate, up, out, n);
  }
  void add(float* y, const float* x, int64_t n) const { api_->add(h_, y, x, n); }
  void add_bias(float* y, const Weight& bias, int64_t rows, int64_t n) const {
    if (bias.present) api_->add_bias(h_, y, &bias.t, rows, n);
  }
  void attention(int32_t layer, const mnemo_attention_desc& desc, const float* q, const float* k, const float* v,
                 int64_t t, int64_t pos0, float* out) const {
    const mnemo_status s = api_->attention(h_, layer, &desc, q, k, v, t, pos0, out);
    if (s != MNEMO_OK) throw PluginError(s, "attention failed in layer " + std::to_string(layer));
  }
  void probe_residual(int32_t layer, const float* x, int64_t t, int64_t d, int64_t pos0) const {
    api_->probe_residual(h_, layer, x, t, d, pos0);
  }
  void set_error(const std::string& message) const { api_->set_error(h_, message.c_str()); }

 private:
  const mnemo_host_api* api_;
  mnemo_host* h_;
};

// Base class of a plugin's model.
class Model {
 public:
  virtual ~Model() = default;
  virtual mnemo_model_info info() const = 0;
  virtual void forward(const mnemo_forward_args& args) = 0;
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

inline mnemo_status forward(mnemo_model* m, const mnemo_forward_args* args) {
  try {
    box(m)->model->forward(*args);
    return MNEMO_OK;
  } catch (const PluginError& e) {
    box(m)->host.set_error(e.what());
    return e.status();
  } catch (const std::exception& e) {
    box(m)->host.set_error(e.what());
    return MNEMO_ERR_INTERNAL;
  } catch (...) {
    box(m)->host.set_error("unknown error");
    return MNEMO_ERR_INTERNAL;
  }
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
        [](mnemo_model* m, const mnemo_forward_args* args) { return mnemo::sdk::detail::forward(m, args); }, \
    };                                                                                                \
    return &api;                                                                                      \
  }

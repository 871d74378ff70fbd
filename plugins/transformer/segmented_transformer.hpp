// What the memory models built on the transformer stack share (RMT, ARMT, Infini-attention,
// Titans): their settings and the backbone named by config.json's "backbone" (GPT-2 or Llama
// blocks, read with the transformer plugin's loaders); and, for the segmented ones, a model that
// the host cuts into segments of S tokens with M memory rows
// each, whose context is the sequence a user may feed rather than the backbone's positions (those
// bound one segment's rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include "segment_rows.hpp"
#include "transformer_model.hpp"

namespace transformer {

// A positive integer setting of config.json, at most `limit`; `fallback` when absent (required
// when there is none).
inline int64_t positive_setting(const Host& host, const char* key, int64_t limit, std::optional<int64_t> fallback = {}) {
  const auto v = host.meta_int(key);
  if (!v && fallback) return *fallback;
  if (!v) throw PluginError(MNEMO_ERR_MISSING, std::string("config.json has no integer '") + key + "'");
  if (*v <= 0 || *v > limit)
    throw PluginError(MNEMO_ERR_INVALID, std::string("'") + key + "' = " + std::to_string(*v) + " is outside 1 .. " +
                                             std::to_string(limit));
  return *v;
}

// config.json's "backbone": "gpt2" or "llama".
inline ModelDef load_backbone(const Host& host, const std::string& family) {
  const std::string backbone = host.meta_string("backbone").value_or("");
  if (backbone == "gpt2") return load_gpt2(host);
  if (backbone == "llama") return load_llama(host);
  throw PluginError(MNEMO_ERR_UNSUPPORTED, family + " backbone '" + backbone + "' is not one of 'gpt2', 'llama'");
}

class SegmentedTransformer : public Transformer {
 public:
  SegmentedTransformer(const Host& host, ModelDef def, std::string architecture, int32_t segment_size, int32_t memory_rows,
                       int64_t max_tokens)
      : Transformer(host, std::move(def)),
        architecture_(std::move(architecture)),
        segment_size_(segment_size),
        memory_rows_(memory_rows),
        max_tokens_(max_tokens) {}

  mnemo_model_info info() const override {
    mnemo_model_info i = Transformer::info();
    i.context_length = static_cast<int32_t>(std::min<int64_t>(max_tokens_, INT32_MAX));
    mnemo::sdk::copy_name(i.architecture, architecture_);
    return i;
  }

  mnemo_segment_info segments() const override {
    mnemo_segment_info out{};
    out.segment_length = segment_size_;
    out.memory_rows = memory_rows_;
    return out;
  }

 protected:
  int32_t segment_size() const { return segment_size_; }

 private:
  std::string architecture_;
  int32_t segment_size_, memory_rows_;
  int64_t max_tokens_;
};

}  // namespace transformer

// A hybrid test model served for the tiny Llama file: layers that differ in mixer, memory and
// shape, built from host ops only, so the tests can check what the host keeps per layer.
//   layer 0: softmax, causal, 2 heads over 1 KV head of width 4 (GQA)
//   layer 1: a recurrent layer of mixer kind "fake_accumulate" (the test registers it): its state
//            [2 heads][2][3] accumulates the first 12 features of each step's last token
//   layer 2: softmax, window of 2, 2 heads over 2 KV heads of width 2
// Options: {"layer1": "<mixer kind>"} declares another mixer for layer 1 (to test refusals).
// The plugin keeps one piece of state of its own, the position it expects next, so a host that
// forgets to call reset() makes the next sequence fail.
#include <cstddef>
#include <cstdlib>
#include <string>

#include "mnemo/plugin_sdk.hpp"

namespace {

using mnemo::sdk::Host;
using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using mnemo::sdk::Weight;

class Hybrid final : public mnemo::sdk::Model {
 public:
  Hybrid(const Host& host, std::string layer1) : host_(host), layer1_(std::move(layer1)) {
    embd_ = host_.require("token_embd.weight");
    if (embd_.t.ndim != 2 || embd_.dim(1) < 16) throw PluginError(MNEMO_ERR_INVALID, "needs embeddings of at least 16");
  }

  mnemo_model_info info() const override {
    mnemo_model_info i{};  // no model-level heads: the layers differ
    i.kind = MNEMO_MODEL_DECODER;
    i.n_layers = 3;
    i.d_model = static_cast<int32_t>(embd_.dim(1));
    i.vocab_size = static_cast<int32_t>(embd_.dim(0));
    i.context_length = 64;
    mnemo::sdk::copy_name(i.architecture, "fake-hybrid");
    return i;
  }

  mnemo_layer_desc layer(int32_t index) const override {
    if (index == 0) return mnemo::sdk::softmax_layer(2, 1, 4, "causal", 0, 0.5f);
    if (index == 2) return mnemo::sdk::softmax_layer(2, 2, 2, "window", 2, 0.7f);
    mnemo_layer_desc d{};
    d.struct_size = sizeof d;
    mnemo::sdk::set_name(d.mixer, layer1_);
    mnemo::sdk::set_name(d.memory, "recurrent_state");
    d.n_heads = 2;
    d.key_dim = 2;
    d.value_dim = 3;
    d.state_rows = 2;
    d.state_cols = 3;
    return d;
  }

  void forward(const mnemo_forward_args& a) override {
    if (a.pos0 != expected_pos_)
      throw PluginError(MNEMO_ERR_INVALID, "expected position " + std::to_string(expected_pos_) + ", got " + std::to_string(a.pos0));
    const int64_t t = a.n_tokens, d = embd_.dim(1);
    const View x = host_.scratch(t, d);
    host_.embed(embd_, a.tokens, x);

    host_.set_layer(0);
    const View out0 = host_.scratch(t, 8);
    host_.attention(0, mnemo::sdk::cols(x, 0, 8), mnemo::sdk::cols(x, 8, 4), mnemo::sdk::cols(x, 12, 4), out0);
    host_.probe_residual(0, out0);

    host_.set_layer(1);
    const View state = host_.memory_view(1, "state");
    if (!state.buffer) throw PluginError(MNEMO_ERR_INTERNAL, "layer 1 has no state");
    const View last = mnemo::sdk::cols(mnemo::sdk::rows(x, t - 1, 1), 0, 12);
    host_.add(state, mnemo::sdk::reshape(last, 3));

    host_.set_layer(2);
    const View out2 = host_.scratch(t, 4);
    host_.attention(2, mnemo::sdk::cols(x, 0, 4), mnemo::sdk::cols(x, 4, 4), mnemo::sdk::cols(x, 8, 4), out2);

    host_.set_layer(-1);
    if (a.logits.buffer) host_.matmul(mnemo::sdk::rows(x, t - 1, 1), embd_, Weight{}, a.logits);
    expected_pos_ = a.pos0 + t;
  }

  void reset() override { expected_pos_ = 0; }

 private:
  Host host_;
  std::string layer1_;
  Weight embd_;
  int64_t expected_pos_ = 0;
};

const char* const kArchitectures[] = {"llama", nullptr};

std::unique_ptr<mnemo::sdk::Model> make_hybrid(const Host& host, std::string_view options) {
  std::string layer1 = "fake_accumulate";
  const std::string key = "\"layer1\": \"";
  if (const size_t at = options.find(key); at != std::string_view::npos) {
    const size_t begin = at + key.size();
    layer1 = std::string(options.substr(begin, options.find('"', begin) - begin));
  }
  return std::make_unique<Hybrid>(host, layer1);
}

}  // namespace

#ifndef MNEMO_FAKE_TABLE_OF_ABI_21
MNEMO_DEFINE_PLUGIN("hybrid", "0.1.0", kArchitectures, make_hybrid)
#else
// The same plugin as a build against the ABI 2.1 header leaves it (hybrid21.so): minor 1 and a
// table that ends before `segments` (added in 2.2). The entry past the table's end would abort, so
// a host that reads beyond struct_size fails the test that loads it.
#define mnemo_plugin_entry mnemo_plugin_entry_of_22
MNEMO_DEFINE_PLUGIN("hybrid", "0.1.0", kArchitectures, make_hybrid)
#undef mnemo_plugin_entry
extern "C" MNEMO_PLUGIN_EXPORT const mnemo_plugin_api* mnemo_plugin_entry(uint32_t major, uint32_t minor) {
  static const mnemo_plugin_api api = [&] {
    mnemo_plugin_api a = *mnemo_plugin_entry_of_22(major, minor);
    a.abi_minor = 1;
    a.struct_size = static_cast<uint32_t>(offsetof(mnemo_plugin_api, segments));
    a.segments = [](const mnemo_model*, mnemo_segment_info*) -> mnemo_status { std::abort(); };
    return a;
  }();
  return &api;
}
#endif

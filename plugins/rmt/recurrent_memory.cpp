#include "recurrent_memory.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "transformer_model.hpp"

namespace rmt {
namespace {

using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using transformer::Host;
using transformer::ModelDef;

class RecurrentMemory final : public transformer::Transformer {
 public:
  RecurrentMemory(const Host& host, ModelDef def, const Settings& s, std::vector<float> initial)
      : Transformer(host, std::move(def)), s_(s), initial_(std::move(initial)), memory_(initial_) {}

  mnemo_model_info info() const override {
    mnemo_model_info i = Transformer::info();
    i.context_length = static_cast<int32_t>(std::min<int64_t>(s_.max_tokens, INT32_MAX));
    mnemo::sdk::copy_name(i.architecture, "rmt");
    return i;
  }

  mnemo_segment_info segments() const override {
    mnemo_segment_info out{};
    out.segment_length = s_.segment_size;
    out.memory_rows = 2 * s_.memory_tokens;
    return out;
  }

  void reset() override { memory_ = initial_; }

  // One piece of a segment (the host never gives more): the read rows when it begins the
  // segment, its tokens, and the write rows when it completes it.
  void forward(const mnemo_forward_args& a) override {
    const int64_t n = a.n_tokens, M = s_.memory_tokens, S = s_.segment_size;
    const int64_t offset = a.pos0 - int64_t{a.segment_ids[0]} * S;  // tokens of this segment before the piece
    if (offset < 0 || offset + n > S)
      throw PluginError(MNEMO_ERR_INVALID, "tokens " + std::to_string(a.pos0) + " .. " + std::to_string(a.pos0 + n - 1) +
                                               " do not lie within segment " + std::to_string(a.segment_ids[0]));
    const bool reads = offset == 0, writes = offset + n == S;
    const int64_t token_row0 = reads ? M : 0;
    const int64_t write_row0 = token_row0 + n;
    const int64_t total = write_row0 + (writes ? M : 0);

    positions_.clear(), roles_.clear(), ids_.clear();
    auto add_rows = [&](int64_t count, int32_t position0, int32_t role, auto id_of) {
      for (int64_t i = 0; i < count; ++i) {
        positions_.push_back(position0 + static_cast<int32_t>(i));
        roles_.push_back(role);
        ids_.push_back(id_of(i));
      }
    };
    auto slot = [](int64_t i) { return static_cast<int32_t>(i); };
    if (reads) add_rows(M, 0, MNEMO_ROW_MEMORY_READ, slot);
    add_rows(n, static_cast<int32_t>(M + offset), MNEMO_ROW_TOKEN, [&](int64_t i) { return a.positions[i]; });
    if (writes) add_rows(M, static_cast<int32_t>(M + S), MNEMO_ROW_MEMORY_WRITE, slot);
    host().set_rows({0, total, positions_.data(), roles_.data(), ids_.data()});

    const int64_t d = config().d_model;
    const View x = host().scratch(total, d);
    host().set_layer(-1);
    // Read and write rows start from the same memory (the authors' [mem | tokens | mem]).
    if (reads) {
      host().write(mnemo::sdk::rows(x, 0, M), memory_.data());
      host().probe_memory(MNEMO_ROW_MEMORY_READ, mnemo::sdk::rows(x, 0, M));
    }
    if (writes) host().write(mnemo::sdk::rows(x, write_row0, M), memory_.data());
    embed_tokens(a.tokens, mnemo::sdk::rows(x, token_row0, n));
    add_learned_positions(positions_.data(), x);
    blocks(x, token_row0, n);
    host().set_layer(-1);

    const View tokens = mnemo::sdk::rows(x, token_row0, n);
    const View last = host().scratch(1, d);
    final_norm(mnemo::sdk::rows(tokens, n - 1, 1), last);
    lm_head(last, a.logits);
    if (a.hidden.buffer) final_norm(tokens, a.hidden);
    if (writes) {
      const View next = host().scratch(M, d);
      final_norm(mnemo::sdk::rows(x, write_row0, M), next);
      host().read(next, memory_.data());
      host().probe_memory(MNEMO_ROW_MEMORY_WRITE, next);
    }
    host().clear_rows();
  }

 private:
  Settings s_;
  std::vector<float> initial_;  // the learned memory [M][d], mem_0
  std::vector<float> memory_;   // the current segment's memory
  std::vector<int32_t> positions_, roles_, ids_;
};

}  // namespace

std::unique_ptr<mnemo::sdk::Model> make_recurrent_memory(const Host& host, ModelDef def, const Settings& s) {
  transformer::validate(def);
  const auto& c = def.cfg;
  if (c.kind != MNEMO_MODEL_DECODER || c.mask != "causal")
    throw PluginError(MNEMO_ERR_UNSUPPORTED, "an rmt backbone must be a causal decoder");
  // One segment's rows must fit the backbone's positions: they restart at 0 in every segment.
  const int64_t rows = int64_t{s.segment_size} + 2 * s.memory_tokens;
  if (rows > c.context_length)
    throw PluginError(MNEMO_ERR_INVALID, "a segment of " + std::to_string(s.segment_size) + " tokens and 2 × " +
                                             std::to_string(s.memory_tokens) + " memory rows needs " + std::to_string(rows) +
                                             " positions; the backbone has " + std::to_string(c.context_length));
  const mnemo::sdk::Weight memory = host.require("memory");
  Host::expect_shape("memory", memory, {s.memory_tokens, c.d_model});
  std::vector<float> initial(static_cast<size_t>(s.memory_tokens) * static_cast<size_t>(c.d_model));
  host.dequantize(memory, initial.data());
  return std::make_unique<RecurrentMemory>(host, std::move(def), s, std::move(initial));
}

}  // namespace rmt

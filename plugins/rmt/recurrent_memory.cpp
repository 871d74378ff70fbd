#include "recurrent_memory.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "segmented_transformer.hpp"

namespace rmt {
namespace {

using mnemo::sdk::PluginError;
using mnemo::sdk::View;
using transformer::Host;
using transformer::locate;
using transformer::ModelDef;
using transformer::Piece;
using transformer::SegmentRows;

class RecurrentMemory final : public transformer::SegmentedTransformer {
 public:
  RecurrentMemory(const Host& host, ModelDef def, const Settings& s, std::vector<float> initial)
      : SegmentedTransformer(host, std::move(def), "rmt", s.segment_size, 2 * s.memory_tokens, s.max_tokens),
        s_(s),
        initial_(std::move(initial)),
        memory_(initial_) {}

  void reset() override { memory_ = initial_; }

  // One piece of a segment (the host never gives more): the read rows when it begins the
  // segment, its tokens, and the write rows when it completes it.
  void forward(const mnemo_forward_args& a) override {
    const int64_t n = a.n_tokens, M = s_.memory_tokens, S = s_.segment_size;
    const Piece piece = locate(a, S);
    const bool reads = piece.begins, writes = piece.completes;
    const int64_t token_row0 = reads ? M : 0;
    const int64_t write_row0 = token_row0 + n;

    rows_.clear();
    if (reads) rows_.add_memory(M, 0, MNEMO_ROW_MEMORY_READ);
    rows_.add_tokens(a, static_cast<int32_t>(M + piece.offset));
    if (writes) rows_.add_memory(M, static_cast<int32_t>(M + S), MNEMO_ROW_MEMORY_WRITE);
    rows_.publish(host());
    const int64_t total = rows_.size();

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
    add_learned_positions(rows_.positions(), x);
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
  SegmentRows rows_;
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

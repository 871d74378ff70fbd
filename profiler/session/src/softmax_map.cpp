// The softmax mixer's map, recomputed from its recorded factors:
//
//   A[i][j] = exp(q_i · k_j · scale − lse_i)   for j visible to row i under the layer's mask, else 0
//
// with q (post-RoPE) and lse from the head's slice of the `q` and `lse` factor rows, and k from
// its KV head's slice of the `k` rows (the slot of each key says its position).
#include <algorithm>
#include <cstring>

#include "mnemo/core/error.h"
#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/mixer_map.h"

namespace mnemo::profiler {
namespace {

class SoftmaxMap final : public MixerMap {
 public:
  explicit SoftmaxMap(const MixerMapInput& in) : what_(in.what) {
    const MixerLayer& l = in.layer;
    if (l.n_kv_heads <= 0 || l.n_heads % l.n_kv_heads != 0)
      throw Error(what_ + ": the layer has " + std::to_string(l.n_heads) + " heads over " + std::to_string(l.n_kv_heads) +
                  " KV heads");
    d_ = l.key_dim;
    if (d_ <= 0 || d_ > 4096) throw Error(what_ + ": key_dim " + std::to_string(d_));
    scale_ = l.scale;
    mask_ = {parse_mask(l.mask), l.window};
    q_first_ = in.row_begin;
    const int32_t kv_head = in.head / l.kv_group();
    const size_t d = static_cast<size_t>(d_);

    const std::vector<FactorBlock> qs = in.factors.blocks("q", in.head), lses = in.factors.blocks("lse", in.head);
    if (qs.empty())
      throw Error(what_ + ": no attention factors recorded (capture off, head out of range, or dropped by the byte budget)");
    int64_t positions = 0;
    for (const FactorBlock& b : qs)
      for (int64_t p : b.positions) positions = std::max(positions, p + 1);
    rows_.assign(static_cast<size_t>(positions), QueryRow{0, -1, 0.f});
    const int64_t q_end = std::min(in.row_end, positions);
    q_.assign(static_cast<size_t>(std::max<int64_t>(0, q_end - q_first_)) * d, 0.f);
    std::vector<float> values;
    for (const FactorBlock& q : qs) {
      // The lse row of the same step (both are in step order; a lone lse row is skipped).
      const auto it = std::find_if(lses.begin(), lses.end(), [&](const FactorBlock& l) { return l.step == q.step; });
      if (it == lses.end()) throw Error(what_ + " step " + std::to_string(q.step) + ": q rows without their lse");
      const FactorBlock& lse = *it;
      if (lse.n != q.n || lse.width != 1 || q.width != d_)
        throw Error(what_ + " step " + std::to_string(q.step) + ": q rows of width " + std::to_string(q.width) +
                    " and lse rows of width " + std::to_string(lse.width) + " do not match (key_dim " + std::to_string(d_) + ")");
      in.factors.read(lse, in.head, values);
      for (int64_t r = 0; r < q.n; ++r) {
        const int64_t p = q.positions[static_cast<size_t>(r)];
        rows_[static_cast<size_t>(p)] = {p, q.n_keys, values[static_cast<size_t>(r)]};
      }
      // The queries of the rows wanted alone; a block with none of them is not read.
      bool wanted = false;
      for (int64_t p : q.positions) wanted = wanted || (p >= q_first_ && p < q_end);
      if (!wanted) continue;
      in.factors.read(q, in.head, values);
      for (int64_t r = 0; r < q.n; ++r) {
        const int64_t p = q.positions[static_cast<size_t>(r)];
        if (p >= q_first_ && p < q_end)
          std::memcpy(q_.data() + static_cast<size_t>(p - q_first_) * d, values.data() + static_cast<size_t>(r) * d, d * sizeof(float));
      }
    }

    for (const FactorBlock& k : in.factors.blocks("k", kv_head)) {
      if (k.width != d_) throw Error(what_ + " step " + std::to_string(k.step) + ": keys of width " + std::to_string(k.width));
      in.factors.read(k, kv_head, values);
      for (int64_t r = 0; r < k.n; ++r) {
        const int64_t p = k.positions[static_cast<size_t>(r)];
        if (static_cast<size_t>(p + 1) * d > k_.size()) k_.resize(static_cast<size_t>(p + 1) * d, 0.f);
        std::memcpy(k_.data() + static_cast<size_t>(p) * d, values.data() + static_cast<size_t>(r) * d, d * sizeof(float));
        n_keys_ = std::max(n_keys_, p + 1);
      }
    }
  }

  void block(int64_t r0, int64_t nr, int64_t c0, int64_t c1, float* out) override {
    const size_t d = static_cast<size_t>(d_);
    for (int64_t i = 0; i < nr; ++i) check_row(r0 + i);
    const int64_t cols = c1 - c0;
    const int64_t kc = std::min(c1, n_keys_);  // keys not recorded read as hidden
    auto probs_into = [&](float* to) {
      attention_probs({q_row(r0), static_cast<size_t>(nr) * d}, {rows_.data() + r0, static_cast<size_t>(nr)},
                      {k_.data() + static_cast<size_t>(c0) * d, static_cast<size_t>(kc - c0) * d}, c0, kc - c0, d_, scale_,
                      mask_, to);
    };
    if (kc == c1) {
      probs_into(out);  // every column recorded: the rows are the block's
      return;
    }
    std::fill(out, out + nr * cols, 0.f);
    if (kc <= c0) return;
    scratch_.resize(static_cast<size_t>(nr * (kc - c0)));
    probs_into(scratch_.data());
    for (int64_t i = 0; i < nr; ++i) std::copy_n(scratch_.data() + i * (kc - c0), kc - c0, out + i * cols);
  }

  std::vector<float> row(int64_t pos) override {
    if (pos < 0 || pos >= static_cast<int64_t>(rows_.size()) || rows_[static_cast<size_t>(pos)].n_k < 0)
      throw Error(what_ + " has no query at position " + std::to_string(pos));
    std::vector<float> p(static_cast<size_t>(rows_[static_cast<size_t>(pos)].n_k), 0.f);
    block(pos, 1, 0, static_cast<int64_t>(p.size()), p.data());
    return p;
  }

 private:
  void check_row(int64_t pos) const {
    if (pos < 0 || pos >= static_cast<int64_t>(rows_.size()) || rows_[static_cast<size_t>(pos)].n_k < 0)
      throw Error(what_ + ": no factors for query position " + std::to_string(pos));
    if (pos < q_first_ || static_cast<size_t>(pos - q_first_ + 1) * static_cast<size_t>(d_) > q_.size())
      throw Error(what_ + ": query position " + std::to_string(pos) + " was not loaded");
  }
  const float* q_row(int64_t pos) const { return q_.data() + static_cast<size_t>(pos - q_first_) * static_cast<size_t>(d_); }

  std::string what_;
  int d_ = 0;
  float scale_ = 1.f;
  MaskSpec mask_;
  int64_t q_first_ = 0;         // q holds the positions from here on
  std::vector<float> q_;        // [pos - q_first][d]
  std::vector<QueryRow> rows_;  // [pos]; n_k < 0 where the position has no recorded query
  std::vector<float> k_;        // [pos][d]
  int64_t n_keys_ = 0;
  std::vector<float> scratch_;
};

}  // namespace

void register_softmax_map(MixerMapRegistry& registry) {
  registry.add("softmax", {"softmax probabilities", "q", [](const MixerMapInput& in) -> std::unique_ptr<MixerMap> {
                             return std::make_unique<SoftmaxMap>(in);
                           }});
}

}  // namespace mnemo::profiler

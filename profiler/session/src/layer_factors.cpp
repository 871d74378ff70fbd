#include "layer_factors.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo::profiler {

void LayerFactors::drop_from(std::vector<Block>& blocks, int64_t pos) {
  while (!blocks.empty() && blocks.back().pos0 >= pos) blocks.pop_back();
  if (!blocks.empty()) {
    Block& last = blocks.back();
    last.used = std::min(last.used, pos - last.pos0);
  }
}

void LayerFactors::keep(std::vector<Block>& blocks, Block b, const FactorData& data, std::span<const float> lse,
                        bool in_file) {
  drop_from(blocks, b.pos0);
  b.data_size = value_count(data);
  b.dtype = dtype_of(data);
  b.lse_size = lse.size();
  b.in_memory = !in_file || copies_;
  if (b.in_memory) {
    b.data = data;
    b.lse.assign(lse.begin(), lse.end());
  }
  blocks.push_back(std::move(b));
}

void LayerFactors::keep_rows(int64_t step, int64_t pos0, int64_t n, int64_t n_k, const FactorData& q,
                             std::span<const float> lse, bool in_file) {
  Block b;
  b.step = step, b.pos0 = pos0, b.n = b.used = n, b.n_k = n_k;
  keep(rows_, std::move(b), q, lse, in_file);
}

void LayerFactors::keep_keys(int64_t step, int64_t pos0, int64_t n, const FactorData& k, bool in_file) {
  Block b;
  b.step = step, b.pos0 = pos0, b.n = b.used = n;
  keep(keys_, std::move(b), k, {}, in_file);
}

void LayerFactors::load(const RowLoader& rows, const KeyLoader& keys) {
  copies_ = true;
  auto check = [](const Block& b, const char* what) {
    if (value_count(b.data) != b.data_size || dtype_of(b.data) != b.dtype || b.lse.size() != b.lse_size)
      throw Error(std::string("the session file gave back other ") + what + " factors for step " +
                  std::to_string(b.step) + " than were written");
  };
  for (Block& b : rows_)
    if (!b.in_memory) {
      rows(b.step, b.data, b.lse);
      check(b, "query");
      b.in_memory = true;
    }
  for (Block& b : keys_)
    if (!b.in_memory) {
      keys(b.step, b.data);
      check(b, "key");
      b.in_memory = true;
    }
}

namespace {
// Values [from, from + n) of a factor, widened to fp32.
void widen(const FactorData& data, int64_t from, int64_t n, float* out) {
  if (const auto* f = std::get_if<std::vector<float>>(&data)) std::memcpy(out, f->data() + from, static_cast<size_t>(n) * sizeof(float));
  else fp16_to_f32({std::get<std::vector<uint16_t>>(data).data() + from, static_cast<size_t>(n)}, out);
}
}  // namespace

void LayerFactors::head_rows(int h, int d, int64_t begin, int64_t end, std::vector<float>& q,
                             std::vector<QueryRow>& rows) const {
  const int64_t n_rows = std::max<int64_t>(0, end - begin);
  q.assign(static_cast<size_t>(n_rows * d), 0.f);
  rows.assign(static_cast<size_t>(n_rows), QueryRow{});
  for (int64_t i = 0; i < n_rows; ++i) rows[static_cast<size_t>(i)].pos = begin + i;
  for (const Block& b : rows_) {
    if (!b.in_memory) throw Error("the recorder's fallback read factors it did not load");
    // The block's rows that fall in [begin, end).
    const int64_t lo = std::max(begin, b.pos0), hi = std::min(end, b.pos0 + b.used);
    if (lo >= hi) continue;
    widen(b.data, (h * b.n + lo - b.pos0) * d, (hi - lo) * d, q.data() + (lo - begin) * d);
    for (int64_t p = lo; p < hi; ++p)
      rows[static_cast<size_t>(p - begin)] = {p, b.n_k, b.lse[static_cast<size_t>(h * b.n + p - b.pos0)]};
  }
}

void LayerFactors::head_keys(int g, int d, int64_t n_k, std::vector<float>& out) const {
  out.assign(static_cast<size_t>(n_k * d), 0.f);
  for (const Block& b : keys_) {
    if (!b.in_memory) throw Error("the recorder's fallback read factors it did not load");
    const int64_t n = std::min(b.used, n_k - b.pos0);
    if (n > 0) widen(b.data, g * b.n * d, n * d, out.data() + b.pos0 * d);
  }
}

}  // namespace mnemo::profiler

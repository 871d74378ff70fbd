#include "mnemo/profiler/session/memory_lineage.h"

#include <string>

#include "mnemo/core/error.h"

namespace mnemo::profiler {
namespace {

using Matrix = std::vector<double>;  // square, row-major

// Head-averaged attention among one segment's rows at one layer: [read slots | tokens | write
// slots], B = 2M + S rows, every row over the rows before it (its own included).
Matrix segment_rows_attention(SessionReader& reader, int64_t run, int32_t layer, int64_t segment, int64_t M, int64_t S) {
  const int64_t B = 2 * M + S;
  const int32_t heads = reader.layer(run, layer).n_heads;
  Matrix a(static_cast<size_t>(B * B), 0.0);
  auto at = [&](int64_t i, int64_t j) -> double& { return a[static_cast<size_t>(i * B + j)]; };
  for (int32_t h = 0; h < heads; ++h) {
    const SegmentAttention s = reader.segment_attention(run, layer, h, segment);
    if (s.memory_slots != M)
      throw Error(reader.path() + ": run " + std::to_string(run) + " layer " + std::to_string(layer) + " segment " +
                  std::to_string(segment) + " has " + std::to_string(s.memory_slots) + " memory slots, not " + std::to_string(M));
    if (s.write_reads.empty())
      throw Error(reader.path() + ": run " + std::to_string(run) + " segment " + std::to_string(segment) +
                  " wrote no memory (a partial segment): the lineage of the memory after it is not defined");
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < M; ++j) at(i, j) += s.read_reads[static_cast<size_t>(i * M + j)];
    for (int64_t t = 0; t < S; ++t) {
      for (int64_t j = 0; j < M; ++j) at(M + t, j) += s.token_reads[static_cast<size_t>(t * M + j)];
      for (int64_t u = 0; u <= t; ++u) at(M + t, M + u) += s.token_tokens[static_cast<size_t>(t * S + u)];
    }
    const int64_t width = B;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < width; ++j) at(M + S + i, j) += s.write_reads[static_cast<size_t>(i * width + j)];
  }
  for (double& v : a) v /= heads;
  return a;
}

}  // namespace

MemoryLineage memory_lineage(SessionReader& reader, int64_t run, int64_t segment) {
  if (segment < 0) throw Error(reader.path() + ": no segment " + std::to_string(segment));
  return std::move(memory_lineages(reader, run, segment).back());
}

std::vector<MemoryLineage> memory_lineages(SessionReader& reader, int64_t run, int64_t segment) {
  const int32_t n_layers = reader.run(run).info.n_layers;
  const MixerLayer& first = reader.layer(run, 0);
  if (first.mask != "segments" || first.window <= 0)
    throw Error(reader.path() + ": run " + std::to_string(run) + " is not a model cut into segments: it has no memory lineage");
  if (segment < 0) throw Error(reader.path() + ": no segment " + std::to_string(segment));
  const int64_t S = first.window;
  const int64_t M = reader.segment_attention(run, 0, 0, 0).memory_slots;
  const int64_t B = 2 * M + S;

  std::vector<MemoryLineage> all(1);
  all[0].memory_slots = M;
  all[0].learned.assign(static_cast<size_t>(M), 1.f);
  for (int64_t s = 0; s < segment; ++s) {
    const MemoryLineage& cur = all.back();
    // R = Â_{L−1} ··· Â_0 with Â_l = ½ Ā_l + ½ I.
    Matrix r(static_cast<size_t>(B * B), 0.0);
    for (int64_t i = 0; i < B; ++i) r[static_cast<size_t>(i * B + i)] = 1.0;
    for (int32_t l = 0; l < n_layers; ++l) {
      Matrix a = segment_rows_attention(reader, run, l, s, M, S);
      for (int64_t i = 0; i < B; ++i) {
        for (int64_t j = 0; j < B; ++j) a[static_cast<size_t>(i * B + j)] *= 0.5;
        a[static_cast<size_t>(i * B + i)] += 0.5;
      }
      Matrix next(static_cast<size_t>(B * B), 0.0);
      for (int64_t i = 0; i < B; ++i)
        for (int64_t k = 0; k <= i; ++k) {  // both factors are lower triangular (causal rows)
          const double aik = a[static_cast<size_t>(i * B + k)];
          if (aik == 0.0) continue;
          for (int64_t j = 0; j <= k; ++j) next[static_cast<size_t>(i * B + j)] += aik * r[static_cast<size_t>(k * B + j)];
        }
      r = std::move(next);
    }
    MemoryLineage out;
    out.segment = s + 1, out.memory_slots = M, out.n_positions = (s + 1) * S;
    out.learned.assign(static_cast<size_t>(M), 0.f);
    out.tokens.assign(static_cast<size_t>(M * out.n_positions), 0.f);
    for (int64_t i = 0; i < M; ++i) {
      const double* w = r.data() + (M + S + i) * B;
      float* tokens = out.tokens.data() + i * out.n_positions;
      for (int64_t j = 0; j < M; ++j) {
        // Write slot j's input is mem_s[j], as read slot j's is: both carry mem_s[j]'s lineage.
        const double share = w[j] + w[M + S + j];
        out.learned[static_cast<size_t>(i)] += static_cast<float>(share * cur.learned[static_cast<size_t>(j)]);
        for (int64_t u = 0; u < cur.n_positions; ++u)
          tokens[u] += static_cast<float>(share * cur.tokens[static_cast<size_t>(j * cur.n_positions + u)]);
      }
      for (int64_t t = 0; t < S; ++t) tokens[s * S + t] += static_cast<float>(w[M + t]);
    }
    all.push_back(std::move(out));
  }
  return all;
}

}  // namespace mnemo::profiler

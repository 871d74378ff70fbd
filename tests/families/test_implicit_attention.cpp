// Implicit attention of linear attention, RetNet, GLA, DeltaNet and Gated DeltaNet against the
// engine kernels' own recurrences, never against the formula it implements:
// - one-hot values (v_j = e_j) through the recurrent kernel give A's columns as outputs;
// - for random values, o_i = Σ_j A[i][j] v_j reproduces the kernel's outputs.
// Maps are assembled from tiles of several sizes (crossing the diagonal, wholly below it, partial),
// over lengths where the cumulative decay would overflow exp in a naive form, and with tiles far
// enough below the diagonal for the delta rule's WY jump (both of its paths).
#include <gtest/gtest.h>

#include <tuple>

#include "family_test_util.h"
#include "implicit_map_util.h"

namespace mnemo {
namespace {

using kernels::testing::Family;
using kernels::testing::LinearProblem;
using profiler::TileRange;

constexpr double kTolerance = 1e-5;

// Map of head h from the problem's factors, as the profiler computes it.
testing::TileFn implicit_map(const LinearProblem& p, int64_t h) {
  const float scale = 1.f / std::sqrt(static_cast<float>(p.dk));
  if (kernels::testing::is_delta(p.family)) {
    profiler::DeltaFactors f;
    f.q = p.q.data() + h * p.dk, f.q_stride = p.H * p.dk;
    f.k = p.k.data() + h * p.dk, f.k_stride = p.H * p.dk;
    f.dim = p.dk, f.scale = scale;
    f.beta = p.beta.data() + h, f.beta_stride = p.H;
    if (!p.head_log_gate.empty()) f.log_alpha = p.head_log_gate.data() + h, f.log_alpha_stride = p.H;
    return [f](const TileRange& t, float* out, int64_t ld) { profiler::delta_implicit_attention(f, t, out, ld); };
  }
  profiler::DecayFactors f;
  f.q = p.q.data() + h * p.dk, f.q_stride = p.H * p.dk;
  f.k = p.k.data() + h * p.dk, f.k_stride = p.H * p.dk;
  f.dim = p.dk, f.scale = scale;
  if (!p.head_log_decay.empty()) f.decay.per_step = p.head_log_decay[h];
  if (!p.key_log_gate.empty())
    f.decay.per_token = p.key_log_gate.data() + h * p.dk, f.decay.stride = p.H * p.dk, f.decay.per_dim = true;
  return [f](const TileRange& t, float* out, int64_t ld) { profiler::decay_implicit_attention(f, t, out, ld); };
}

// Columns [c0, c1) of every head's map from the recurrent kernel: value j is e_{j−c0} for j in
// [c0, c1) and 0 elsewhere, starting from a zero state. Returns [H][T][c1−c0].
std::vector<float> kernel_columns(const LinearProblem& p, int64_t c0, int64_t c1) {
  LinearProblem one_hot = p;
  const int64_t n = c1 - c0;
  one_hot.dv = n;
  one_hot.v.assign(p.T * p.H * n, 0.f);
  for (int64_t j = c0; j < c1; ++j)
    for (int64_t h = 0; h < p.H; ++h) one_hot.v[(j * p.H + h) * n + (j - c0)] = 1.f;
  std::vector<float> state(p.H * p.dk * n, 0.f), out(p.T * p.H * n);
  ThreadPool pool(2);
  kernels::testing::run_recurrent(pool, p.family, one_hot.args(0, p.T, state.data(), out.data()));
  std::vector<float> maps(p.H * p.T * n);
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t h = 0; h < p.H; ++h)
      std::copy_n(&out[(t * p.H + h) * n], n, &maps[(h * p.T + t) * n]);
  return maps;
}

using Case = std::tuple<Family, int64_t /*tile*/>;
class ImplicitAttention : public ::testing::TestWithParam<Case> {};

// The whole map of a 300-token run, tile by tile, equals the kernel's one-hot columns.
TEST_P(ImplicitAttention, OneHotValuesGiveTheColumns) {
  const auto [family, tile] = GetParam();
  const LinearProblem p(family, 300, 2, 8, 1, 41);
  const auto expected = kernel_columns(p, 0, p.T);
  for (int64_t h = 0; h < p.H; ++h) {
    const auto map = testing::map_from_tiles(implicit_map(p, h), 0, p.T, 0, p.T, tile);
    const std::vector<float> want(expected.begin() + h * p.T * p.T, expected.begin() + (h + 1) * p.T * p.T);
    EXPECT_LT(kernels::testing::rel_error(map, want), kTolerance) << "head " << h;
  }
}

// o_i = Σ_j A[i][j] v_j for random values equals the kernel's output (from a zero state).
TEST_P(ImplicitAttention, MapTimesValuesGivesTheOutput) {
  const auto [family, tile] = GetParam();
  const LinearProblem p(family, 200, 2, 8, 5, 43);
  std::vector<float> state(p.H * p.dk * p.dv, 0.f), out(p.T * p.H * p.dv);
  ThreadPool pool(2);
  kernels::testing::run_chunked(pool, p.family, p.args(0, p.T, state.data(), out.data()), 64);
  std::vector<float> mixed(out.size(), 0.f);
  for (int64_t h = 0; h < p.H; ++h) {
    const auto map = testing::map_from_tiles(implicit_map(p, h), 0, p.T, 0, p.T, tile);
    for (int64_t i = 0; i < p.T; ++i)
      for (int64_t j = 0; j < p.T; ++j)
        for (int64_t e = 0; e < p.dv; ++e)
          mixed[(i * p.H + h) * p.dv + e] += map[i * p.T + j] * p.v[(j * p.H + h) * p.dv + e];
  }
  EXPECT_LT(kernels::testing::rel_error(mixed, out), kTolerance);
}

const Family kFamilies[] = {Family::Linear, Family::Retention, Family::Gla, Family::DeltaNet, Family::GatedDeltaNet};

INSTANTIATE_TEST_SUITE_P(Families, ImplicitAttention,
                         ::testing::Combine(::testing::ValuesIn(kFamilies), ::testing::Values(256, 37, 100)),
                         [](const auto& info) {
                           return std::string(kernels::testing::family_name(std::get<0>(info.param))) + "_tile" +
                                  std::to_string(std::get<1>(info.param));
                         });

class ImplicitAttentionFar : public ::testing::TestWithParam<Family> {};

// Tiles near the end of a 1200-token run with decays that sum past −150 (exp of the cumulative
// gate alone would overflow float): near the diagonal, and far below it.
TEST_P(ImplicitAttentionFar, LongRunTilesAreFiniteAndExact) {
  const Family family = GetParam();
  LinearProblem p(family, 1200, 1, 16, 1, 47);
  for (float& g : p.key_log_gate) g = std::min(g, -0.15f);
  for (float& g : p.head_log_gate) g *= 0.1f;  // the delta rule forgets through its key removal too
  for (const TileRange t : {TileRange{1100, 1200, 1050, 1200}, TileRange{1000, 1200, 0, 120}, TileRange{1150, 1200, 900, 1000}}) {
    const auto cols = kernel_columns(p, t.c0, t.c1);
    std::vector<float> want(t.rows() * t.cols()), got(want.size());
    for (int64_t i = t.r0; i < t.r1; ++i) std::copy_n(&cols[i * t.cols()], t.cols(), &want[(i - t.r0) * t.cols()]);
    implicit_map(p, 0)(t, got.data(), t.cols());
    for (float x : got) ASSERT_TRUE(std::isfinite(x));
    // Relative to the largest cell of the tile's own band of the map, so far tiles count too.
    EXPECT_LT(kernels::testing::rel_error(got, want), 1e-4) << t.r0 << ".." << t.r1 << " × " << t.c0 << ".." << t.c1;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, ImplicitAttentionFar, ::testing::ValuesIn(kFamilies),
                         [](const auto& info) { return std::string(kernels::testing::family_name(info.param)); });

// The delta rule's jump over the steps between the columns and the rows, in both of its forms:
// fewer columns than key dims (the columns carried through WY chunks) and more (a dense transition).
TEST(DeltaImplicitAttention, JumpEqualsStepping) {
  for (const int64_t dk : {8, 64}) {
    LinearProblem p(Family::GatedDeltaNet, 400, 1, dk, 1, 53);
    const TileRange t{300, 400, 10, 50};  // 250 steps between the last column and the first row
    const auto cols = kernel_columns(p, t.c0, t.c1);
    std::vector<float> want(t.rows() * t.cols()), got(want.size());
    for (int64_t i = t.r0; i < t.r1; ++i) std::copy_n(&cols[i * t.cols()], t.cols(), &want[(i - t.r0) * t.cols()]);
    implicit_map(p, 0)(t, got.data(), t.cols());
    EXPECT_LT(kernels::testing::rel_error(got, want), kTolerance) << "dk " << dk;
  }
}

TEST(ImplicitAttention, CellsAboveTheDiagonalAreZero) {
  const LinearProblem p(Family::Gla, 64, 1, 8, 1);
  std::vector<float> out(32 * 32, 1.f);
  implicit_map(p, 0)(TileRange{0, 32, 32, 64}, out.data(), 32);
  EXPECT_EQ(testing::max_abs(out), 0.0);
}

}  // namespace
}  // namespace mnemo

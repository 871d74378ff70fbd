// The chunked linear-attention forms against the recurrent ones (STYLE.md §7) for every family,
// over lengths around chunk boundaries, dk ≠ dv, and a non-zero initial state; a decode step
// continuing a chunked prefill; a prefill in two pieces. The recurrent forms themselves are
// checked against flash-linear-attention's naive forms in test_family_golden.cpp.
#include <gtest/gtest.h>

#include <tuple>

#include "family_test_util.h"
#include "mnemo/core/error.h"

namespace mnemo::kernels {
namespace {

using testing::Family;
using testing::LinearProblem;

constexpr double kTolerance = 1e-5;
const Family kFamilies[] = {Family::Linear, Family::Retention, Family::Gla, Family::DeltaNet, Family::GatedDeltaNet};

// heads: 3 fill the 2-thread pool (heads in parallel); 1 does not (a head's chunks in parallel).
using Case = std::tuple<Family, int64_t /*T*/, int64_t /*chunk*/, int64_t /*heads*/>;

class ChunkedEqualsRecurrent : public ::testing::TestWithParam<Case> {};

TEST_P(ChunkedEqualsRecurrent, OutputsAndFinalState) {
  const auto [family, T, chunk, heads] = GetParam();
  const LinearProblem p(family, T, heads, 16, 24);
  ThreadPool pool(2);
  std::vector<float> s_rec = p.state, s_chk = p.state, o_rec(T * p.H * p.dv), o_chk(o_rec.size(), NAN);
  testing::run_recurrent(pool, family, p.args(0, T, s_rec.data(), o_rec.data()));
  testing::run_chunked(pool, family, p.args(0, T, s_chk.data(), o_chk.data()), chunk);
  EXPECT_LT(testing::rel_error(o_chk, o_rec), kTolerance);
  EXPECT_LT(testing::rel_error(s_chk, s_rec), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Families, ChunkedEqualsRecurrent,
                         ::testing::Combine(::testing::ValuesIn(kFamilies), ::testing::Values(1, 7, 64, 65, 200),
                                            ::testing::Values(64, 16), ::testing::Values(3, 1)),
                         [](const auto& info) {
                           return std::string(testing::family_name(std::get<0>(info.param))) + "_T" +
                                  std::to_string(std::get<1>(info.param)) + "_chunk" +
                                  std::to_string(std::get<2>(info.param)) + "_heads" +
                                  std::to_string(std::get<3>(info.param));
                         });

class Continuation : public ::testing::TestWithParam<Family> {};

// A chunked prefill of 130 tokens then three decode steps equals the recurrence over all 133
// (one head: the prefill's chunks run in parallel).
TEST_P(Continuation, DecodeContinuesChunkedPrefill) {
  const Family family = GetParam();
  const int64_t T = 133, prefill = 130;
  const LinearProblem p(family, T, 1, 8, 12);
  ThreadPool pool(2);
  std::vector<float> s_all = p.state, s_steps = p.state, o_all(T * p.H * p.dv), o_steps(o_all.size(), NAN);
  testing::run_recurrent(pool, family, p.args(0, T, s_all.data(), o_all.data()));
  testing::run_chunked(pool, family, p.args(0, prefill, s_steps.data(), o_steps.data()), 64);
  for (int64_t t = prefill; t < T; ++t) testing::run_recurrent(pool, family, p.args(t, t + 1, s_steps.data(), o_steps.data()));
  EXPECT_LT(testing::rel_error(o_steps, o_all), kTolerance);
  EXPECT_LT(testing::rel_error(s_steps, s_all), kTolerance);
}

// A prefill in two pieces (split inside a chunk) equals the prefill at once.
TEST_P(Continuation, PrefillInTwoPieces) {
  const Family family = GetParam();
  const int64_t T = 150, split = 71;
  const LinearProblem p(family, T, 2, 8, 12);
  ThreadPool pool(2);
  std::vector<float> s_once = p.state, s_two = p.state, o_once(T * p.H * p.dv), o_two(o_once.size(), NAN);
  testing::run_chunked(pool, family, p.args(0, T, s_once.data(), o_once.data()), 64);
  testing::run_chunked(pool, family, p.args(0, split, s_two.data(), o_two.data()), 64);
  testing::run_chunked(pool, family, p.args(split, T, s_two.data(), o_two.data()), 64);
  EXPECT_LT(testing::rel_error(o_two, o_once), kTolerance);
  EXPECT_LT(testing::rel_error(s_two, s_once), kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Families, Continuation, ::testing::ValuesIn(kFamilies),
                         [](const auto& info) { return std::string(testing::family_name(info.param)); });

// The recurrent form by hand on one head, two tokens, dk = dv = 1: S1 = β1 k1 v1,
// S2 = α2 (1 − β2 k2²) S1 + β2 k2 v2; o_t = scale · S_t q_t.
TEST(GatedDeltaRule, TwoTokensByHand) {
  const float q[] = {2.f, 3.f}, k[] = {0.5f, 0.8f}, v[] = {1.5f, -1.f}, beta[] = {0.4f, 0.6f}, g[] = {0.f, -0.5f};
  float state = 0.f, out[2];
  LinearAttentionArgs a;
  a.q = q, a.k = k, a.v = v, a.beta = beta, a.head_log_gate = g;
  a.T = 2, a.n_heads = 1, a.dk = 1, a.dv = 1, a.scale = 0.5f, a.state = &state, a.out = out;
  ThreadPool pool(1);
  delta_rule_recurrent(pool, a);
  const float s1 = 0.4f * 0.5f * 1.5f, s2 = std::exp(-0.5f) * (1 - 0.6f * 0.64f) * s1 + 0.6f * 0.8f * -1.f;
  EXPECT_FLOAT_EQ(out[0], 0.5f * s1 * 2.f);
  EXPECT_FLOAT_EQ(out[1], 0.5f * s2 * 3.f);
  EXPECT_FLOAT_EQ(state, s2);
}

TEST(LinearAttention, EluPlusOne) {
  float x[] = {-1.f, 0.f, 2.f};
  elu_plus_one(x, 3);
  EXPECT_FLOAT_EQ(x[0], std::exp(-1.f));
  EXPECT_FLOAT_EQ(x[1], 1.f);
  EXPECT_FLOAT_EQ(x[2], 3.f);
}

TEST(LinearAttention, RefusesMismatchedFamilyArguments) {
  const LinearProblem p(Family::DeltaNet, 4, 1, 4, 4);
  std::vector<float> s = p.state, o(4 * 4);
  ThreadPool pool(1);
  EXPECT_THROW(decay_attention_recurrent(pool, p.args(0, 4, s.data(), o.data())), UsageError);  // beta set
  LinearAttentionArgs a = p.args(0, 4, s.data(), o.data());
  a.beta = nullptr;
  EXPECT_THROW(delta_rule_chunked(pool, a), UsageError);
}

}  // namespace
}  // namespace mnemo::kernels

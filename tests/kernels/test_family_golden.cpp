// Every recurrent-family kernel against the field's own references, through the golden files
// tools/reference/make_family_golden.py writes (ctest fixture kernels.family_golden):
// flash-linear-attention's naive forms for linear attention, RetNet, GLA, DeltaNet and Gated
// DeltaNet; mamba_ssm's selective_scan_ref and ssd_minimal_discrete; torch's conv1d. Both the
// recurrent and the chunked forms, outputs and final states.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <tuple>

#include "family_test_util.h"
#include "mnemo/kernels/ssm.h"
#include "npy.h"

namespace mnemo::kernels {
namespace {

constexpr double kTolerance = 1e-4;

struct Golden {
  std::string dir;
  std::vector<float> operator()(const std::string& name) const { return mnemo::test::read_npy(dir + "/" + name + ".npy").data; }
  bool has(const std::string& name) const { return std::filesystem::exists(dir + "/" + name + ".npy"); }
  const float* opt(std::vector<float>& keep, const std::string& name) const {
    if (!has(name)) return nullptr;
    keep = (*this)(name);
    return keep.data();
  }
};

Golden golden(const std::string& family, int64_t T) {
  return {std::string(MNEMO_FAMILY_GOLDEN_DIR) + "/" + family + "_T" + std::to_string(T)};
}

enum class Form { Recurrent, Chunked };
void PrintTo(Form f, std::ostream* os) { *os << (f == Form::Recurrent ? "recurrent" : "chunked"); }
using Case = std::tuple<std::string, int64_t, Form>;

class FamilyGolden : public ::testing::TestWithParam<Case> {};

void check_linear(const std::string& family, const Golden& g, int64_t T, Form form) {
  const int64_t H = 2, dk = 16, dv = 24;  // make_family_golden.py's H, DK, DV
  auto q = g("q"), k = g("k"), v = g("v"), state = g("state_in"), expected = g("out");
  if (family == "linear_attn") {
    elu_plus_one(q.data(), static_cast<int64_t>(q.size()));
    elu_plus_one(k.data(), static_cast<int64_t>(k.size()));
  }
  std::vector<float> keep[4];
  LinearAttentionArgs a;
  a.q = q.data(), a.k = k.data(), a.v = v.data(), a.T = T, a.n_heads = H, a.dk = dk, a.dv = dv;
  a.scale = g("scale")[0];
  a.head_log_decay = g.opt(keep[0], "head_log_decay");
  a.head_log_gate = g.opt(keep[1], "head_log_gate");
  a.key_log_gate = g.opt(keep[2], "key_log_gate");
  a.beta = g.opt(keep[3], "beta");
  std::vector<float> out(T * H * dv, NAN);
  a.state = state.data(), a.out = out.data();
  ThreadPool pool(2);
  const bool delta = a.beta != nullptr;
  if (form == Form::Recurrent) delta ? delta_rule_recurrent(pool, a) : decay_attention_recurrent(pool, a);
  else delta ? delta_rule_chunked(pool, a, 64) : decay_attention_chunked(pool, a, 64);
  EXPECT_LT(testing::rel_error(out, expected), kTolerance);
  if (g.has("state_out")) {
    EXPECT_LT(testing::rel_error(state, g("state_out")), kTolerance);
  }
}

void check_mamba1(const Golden& g, int64_t T) {
  const int64_t D = 8, N = 16, G = 2;
  auto x = g("x"), delta = g("delta"), bias = g("delta_bias"), A = g("A"), B = g("B"), C = g("C");
  auto D_skip = g("D_skip"), z = g("z");
  std::vector<float> state(D * N, 0.f), out(T * D, NAN);
  SelectiveScanArgs a;
  a.x = x.data(), a.delta = delta.data(), a.delta_bias = bias.data(), a.delta_softplus = true;
  a.A = A.data(), a.B = B.data(), a.C = C.data(), a.D_skip = D_skip.data(), a.z = z.data();
  a.T = T, a.D = D, a.N = N, a.G = G, a.state = state.data(), a.out = out.data();
  ThreadPool pool(2);
  selective_scan(pool, a);
  EXPECT_LT(testing::rel_error(out, g("out")), kTolerance);
  EXPECT_LT(testing::rel_error(state, g("state_out")), kTolerance);
}

void check_mamba2(const Golden& g, int64_t T, Form form) {
  const int64_t H = 4, P = 8, N = 16, G = 2;
  auto x = g("x"), dt = g("dt"), bias = g("dt_bias"), A = g("A"), B = g("B"), C = g("C"), state = g("state_in");
  std::vector<float> out(T * H * P, NAN);
  SsdArgs a;
  a.x = x.data(), a.dt = dt.data(), a.dt_bias = bias.data(), a.dt_softplus = true;
  a.A = A.data(), a.B = B.data(), a.C = C.data();
  a.T = T, a.H = H, a.P = P, a.N = N, a.G = G, a.state = state.data(), a.out = out.data();
  ThreadPool pool(2);
  form == Form::Recurrent ? ssd_recurrent(pool, a) : ssd_chunked(pool, a, 64);
  EXPECT_LT(testing::rel_error(out, g("out")), kTolerance);
  EXPECT_LT(testing::rel_error(state, g("state_out")), kTolerance);
}

void check_conv(const Golden& g, int64_t T) {
  const int64_t D = 8, K = 4;
  auto x = g("x"), w = g("weight"), bias = g("bias"), state = g("state_in");
  std::vector<float> out(T * D, NAN);
  CausalConvArgs a;
  a.x = x.data(), a.weight = w.data(), a.bias = bias.data(), a.T = T, a.D = D, a.K = K, a.silu = true;
  a.conv_state = state.data(), a.out = out.data();
  ThreadPool pool(2);
  causal_conv1d(pool, a);
  EXPECT_LT(testing::rel_error(out, g("out")), kTolerance);
  EXPECT_LT(testing::rel_error(state, g("state_out")), kTolerance);
}

TEST_P(FamilyGolden, MatchesReference) {
  const auto& [family, T, form] = GetParam();
  const Golden g = golden(family, T);
  ASSERT_TRUE(g.has("out")) << "missing " << g.dir << " (written by tools/reference/make_family_golden.py)";
  if (family == "mamba1") check_mamba1(g, T);
  else if (family == "mamba2") check_mamba2(g, T, form);
  else if (family == "conv1d") check_conv(g, T);
  else check_linear(family, g, T, form);
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (const char* f : {"linear_attn", "retention", "gla", "delta_rule", "gated_delta_rule", "mamba2"})
    for (int64_t T : {1, 7, 64, 65, 200})
      for (Form form : {Form::Recurrent, Form::Chunked}) all.emplace_back(f, T, form);
  for (const char* f : {"mamba1", "conv1d"})  // one form each
    for (int64_t T : {1, 7, 64, 65, 200}) all.emplace_back(f, T, Form::Recurrent);
  return all;
}

INSTANTIATE_TEST_SUITE_P(References, FamilyGolden, ::testing::ValuesIn(cases()), [](const auto& info) {
  const std::string& family = std::get<0>(info.param);
  const int64_t T = std::get<1>(info.param);
  const Form form = std::get<2>(info.param);
  const bool one_form = family == "mamba1" || family == "conv1d";
  return family + "_T" + std::to_string(T) + (one_form ? "" : form == Form::Recurrent ? "_recurrent" : "_chunked");
});

}  // namespace
}  // namespace mnemo::kernels

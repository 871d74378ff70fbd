// attention() against attention_reference() (double precision) over masks, GQA/MQA, decode and
// prefill paths (query tiles with tails, key blocks past one tile), q_pos0 offsets, padded KV
// strides, lse, and 1..3 threads; plus the reference itself against a hand-computed case.
#include <tuple>

#include "kernel_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/attention.h"

namespace mnemo::kernels {
namespace {

using testing::random_floats;
using Shape = testing::AttentionShape;

const Shape kShapes[] = {
    {"decode", 1, 37, 4, 4, 16, 36},
    {"decode_gqa_odd_dim", 1, 300, 6, 2, 20, 299},
    {"short_prefill", 5, 5, 2, 1, 8, 0},
    {"chunk_after_cache", 9, 40, 4, 2, 16, 31},
    {"tiled_with_tail", 100, 100, 3, 3, 64, 0},
    {"tiled_many_key_blocks_mqa", 130, 600, 4, 1, 32, 470},
    {"tiled_head_dim_80", 70, 70, 2, 2, 80, 0},  // 64 + 16: both widths of the PV kernel
};

using AttentionCase = std::tuple<Shape, MaskKind, int, std::string /*cpu level*/>;

std::string attention_case_name(const ::testing::TestParamInfo<AttentionCase>& info) {
  static const char* const masks[] = {"none", "causal", "window"};
  return std::string(std::get<0>(info.param).name) + "_" + masks[static_cast<int>(std::get<1>(info.param))] +
         "_t" + std::to_string(std::get<2>(info.param)) + "_" +
         (std::get<3>(info.param).empty() ? "native" : std::get<3>(info.param));
}

class AttentionGrid : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(AttentionGrid, MatchesReferenceOutputAndLse) {
  const auto& [s, mask, threads, level] = GetParam();
  testing::ScopedCpuLevel cpu(level);  // native: AVX-512 tile kernels; avx2: sgemm tiles
  ThreadPool pool(threads);
  const int64_t stride = (s.T_k + 3) * s.head_dim;  // KV cache with spare capacity per head
  const auto q = random_floats(s.T_q * s.n_heads * s.head_dim, 1, 1.5f);
  const auto k = random_floats(s.n_kv_heads * stride, 2, 1.5f);
  const auto v = random_floats(s.n_kv_heads * stride, 3);
  AttentionArgs a = testing::attention_args(s, mask, q, k, v, stride);
  const size_t n_out = s.T_q * s.n_heads * s.head_dim, n_lse = s.n_heads * s.T_q;
  std::vector<float> out(n_out, NAN), lse(n_lse, NAN), ref_out(n_out), ref_lse(n_lse);
  a.out = out.data();
  a.lse = lse.data();
  attention(pool, a);
  a.out = ref_out.data();
  a.lse = ref_lse.data();
  attention_reference(a);
  std::vector<double> ro(ref_out.begin(), ref_out.end()), rl(ref_lse.begin(), ref_lse.end());
  EXPECT_LT(testing::max_rel_error(out.data(), ro.data(), n_out), 2e-6);
  for (size_t i = 0; i < n_lse; ++i) ASSERT_NEAR(lse[i], ref_lse[i], 2e-5 * std::max(1.f, std::fabs(ref_lse[i]))) << i;

  // Without lse the outputs are the same.
  std::vector<float> out2(n_out);
  a.out = out2.data();
  a.lse = nullptr;
  attention(pool, a);
  EXPECT_EQ(out2, out);
}

INSTANTIATE_TEST_SUITE_P(Grid, AttentionGrid,
                         ::testing::Combine(::testing::ValuesIn(kShapes),
                                            ::testing::Values(MaskKind::None, MaskKind::Causal, MaskKind::Window),
                                            ::testing::Values(1, 2, 3), ::testing::Values("", "avx2")),
                         attention_case_name);

TEST(AttentionReference, HandComputedTwoKeys) {
  // One head, dim 1: q = 1, keys 0 and ln 3 → weights 1/4 and 3/4; values 10 and 20.
  const float q[] = {1.f}, k[] = {0.f, std::log(3.f)}, v[] = {10.f, 20.f};
  float out[1], lse[1];
  AttentionArgs a;
  a.q = q;
  a.k = k;
  a.v = v;
  a.kv_head_stride = 2;
  a.T_q = 1;
  a.T_k = 2;
  a.n_heads = a.n_kv_heads = a.head_dim = 1;
  a.q_pos0 = 1;
  a.scale = 1.f;
  a.out = out;
  a.lse = lse;
  attention_reference(a);
  EXPECT_NEAR(out[0], 17.5f, 1e-5);
  EXPECT_NEAR(lse[0], std::log(4.f), 1e-6);
  ThreadPool pool(1);
  attention(pool, a);
  EXPECT_NEAR(out[0], 17.5f, 1e-5);
  EXPECT_NEAR(lse[0], std::log(4.f), 1e-6);
}

TEST(Attention, QueryWithNoVisibleKeyGivesZerosAndMinusInfinity) {
  // Window mask, query at position 50 with only 10 keys cached: nothing within the window.
  const auto q = random_floats(8, 1), k = random_floats(80, 2), v = random_floats(80, 3);
  std::vector<float> out(8, NAN), lse(1, NAN);
  AttentionArgs a;
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.kv_head_stride = 80;
  a.T_q = 1;
  a.T_k = 10;
  a.n_heads = a.n_kv_heads = 1;
  a.head_dim = 8;
  a.q_pos0 = 50;
  a.mask = MaskKind::Window;
  a.window = 4;
  a.scale = 0.3f;
  a.out = out.data();
  a.lse = lse.data();
  ThreadPool pool(2);
  attention(pool, a);
  for (float o : out) EXPECT_EQ(o, 0.f);
  EXPECT_EQ(lse[0], -INFINITY);
}

TEST(Attention, RejectsHeadCountsThatDoNotGroup) {
  AttentionArgs a;
  a.n_heads = 6;
  a.n_kv_heads = 4;
  a.head_dim = 8;
  ThreadPool pool(1);
  EXPECT_THROW(attention(pool, a), Error);
}

}  // namespace
}  // namespace mnemo::kernels

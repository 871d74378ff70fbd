// Block layouts and rounding against gguf-py (tests/golden/quant, written by
// tools/reference/make_quant_golden.py), bit for bit.
#include <cstring>

#include "kernel_test_util.h"
#include "mnemo/core/error.h"
#include "mnemo/kernels/quant.h"

namespace mnemo::kernels {
namespace {

using testing::read_golden;

std::vector<float> as_floats(const std::vector<char>& bytes) {
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// Bitwise equality, so that -0 / +0 and NaN payloads count.
void expect_same_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    uint32_t g, w;
    std::memcpy(&g, &got[i], 4);
    std::memcpy(&w, &want[i], 4);
    ASSERT_EQ(g, w) << what << " element " << i << ": " << got[i] << " vs " << want[i];
  }
}

struct GoldenCase {
  DType type;
  const char* name;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

class QuantizeGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(QuantizeGolden, QuantizeMatchesGgufPyBytes) {
  const auto [type, name] = GetParam();
  const auto input = as_floats(read_golden(std::string(name) + ".input.f32"));
  const auto want = read_golden(std::string(name) + ".quant.bin");
  ASSERT_TRUE(can_quantize(type));
  std::vector<char> got(want.size());
  quantize_row(type, input.data(), got.data(), static_cast<int64_t>(input.size()));
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(static_cast<uint8_t>(got[i]), static_cast<uint8_t>(want[i])) << name << " byte " << i;
}

TEST_P(QuantizeGolden, DequantizeMatchesGgufPyFloats) {
  const auto [type, name] = GetParam();
  const auto bytes = read_golden(std::string(name) + ".quant.bin");
  const auto want = as_floats(read_golden(std::string(name) + ".dequant.f32"));
  std::vector<float> got(want.size());
  dequantize_row(type, bytes.data(), got.data(), static_cast<int64_t>(got.size()));
  expect_same_bits(got, want, name);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizeGolden,
                         ::testing::Values(GoldenCase{DType::F16, "f16"}, GoldenCase{DType::BF16, "bf16"},
                                           GoldenCase{DType::Q8_0, "q8_0"}, GoldenCase{DType::Q4_0, "q4_0"},
                                           GoldenCase{DType::Q4_1, "q4_1"}),
                         [](const auto& info) { return std::string(info.param.name); });

class DequantizeKQuantGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(DequantizeKQuantGolden, MatchesGgufPyFloats) {
  const auto [type, name] = GetParam();
  const auto bytes = read_golden(std::string(name) + ".quant.bin");
  const auto want = as_floats(read_golden(std::string(name) + ".dequant.f32"));
  ASSERT_TRUE(can_dequantize(type));
  ASSERT_FALSE(can_quantize(type));
  std::vector<float> got(want.size());
  dequantize_row(type, bytes.data(), got.data(), static_cast<int64_t>(got.size()));
  expect_same_bits(got, want, name);
}

INSTANTIATE_TEST_SUITE_P(Types, DequantizeKQuantGolden,
                         ::testing::Values(GoldenCase{DType::Q2_K, "q2_k"}, GoldenCase{DType::Q3_K, "q3_k"},
                                           GoldenCase{DType::Q4_K, "q4_k"}, GoldenCase{DType::Q5_K, "q5_k"},
                                           GoldenCase{DType::Q6_K, "q6_k"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Quant, F32RoundTripsExactly) {
  const auto x = testing::random_floats(37, 1);
  std::vector<float> q(37), back(37);
  quantize_row(DType::F32, x.data(), q.data(), 37);
  dequantize_row(DType::F32, q.data(), back.data(), 37);
  EXPECT_EQ(x, back);
}

TEST(Quant, F16OddLengthUsesScalarTailCorrectly) {
  const auto x = testing::random_floats(21, 2);  // 2 vector groups of 8 + a tail of 5
  std::vector<uint16_t> h(21);
  std::vector<float> back(21);
  quantize_row(DType::F16, x.data(), h.data(), 21);
  dequantize_row(DType::F16, h.data(), back.data(), 21);
  for (int i = 0; i < 21; ++i) EXPECT_NEAR(back[i], x[i], std::fabs(x[i]) * 1e-3f) << i;
}

TEST(Quant, RejectsPartialBlocksAndUnknownTypes) {
  std::vector<float> x(48);
  std::vector<char> out(64);
  EXPECT_THROW(quantize_row(DType::Q8_0, x.data(), out.data(), 48), Error);
  EXPECT_THROW(dequantize_row(DType::Q4_K, out.data(), x.data(), 32), Error);
  EXPECT_FALSE(can_dequantize(DType::I32));
  EXPECT_THROW(quantize_row(DType::Q6_K, x.data(), out.data(), 256), Error);
}

}  // namespace
}  // namespace mnemo::kernels

// The memory each layer keeps: KV slots know their positions (keys have identity) and keep their
// contents when storage grows; a recurrent state has its shape and resets to zero; ModelMemory
// builds one memory per layer from the descriptors, shapes differing per layer.
#include <gtest/gtest.h>

#include <numeric>

#include "mnemo/backend/cpu_backend.h"
#include "mnemo/core/error.h"
#include "mnemo/runtime/memory.h"

namespace mnemo::test {
namespace {

struct Cpu {
  ThreadPool pool{1};
  std::unique_ptr<backend::Backend> be = backend::make_cpu_backend(pool);
};

// A scratch view of rows × cols filled with base + element index.
backend::View filled(backend::Backend& be, int64_t rows, int64_t cols, float base) {
  backend::View v{be.scratch(rows * cols), 0, rows, cols, cols};
  std::vector<float> data(static_cast<size_t>(rows * cols));
  std::iota(data.begin(), data.end(), base);
  be.write(v, data.data());
  return v;
}

TEST(KvMemory, SlotsHoldTheirPositionsHeadMajor) {
  Cpu cpu;
  rt::KvMemory kv(*cpu.be, /*heads*/ 2, /*key*/ 3, /*value*/ 3, /*max*/ 1000);
  const auto k = filled(*cpu.be, 2, 6, 0.f), v = filled(*cpu.be, 2, 6, 100.f);
  const int32_t pos[] = {0, 1};
  kv.append(k, v, pos);
  EXPECT_EQ(kv.n_slots(), 2);
  EXPECT_TRUE(kv.in_position_order());
  EXPECT_EQ(kv.resident_ranges(), (std::vector<std::pair<int64_t, int64_t>>{{0, 2}}));
  const float* keys = cpu.be->host_address(*kv.keys());
  // Row 1's second head (elements 9..11 of the input) is slot 1 of KV head 1.
  EXPECT_EQ(keys[1 * kv.key_head_stride() + 1 * 3 + 0], 9.f);
  EXPECT_EQ(keys[1 * kv.key_head_stride() + 1 * 3 + 2], 11.f);
  EXPECT_EQ(cpu.be->host_address(*kv.values())[0 * kv.value_head_stride() + 1 * 3], 106.f);  // row 1, head 0
  EXPECT_EQ(kv.bytes_used(), 2u * 2 * (3 + 3) * sizeof(float));
}

TEST(KvMemory, GrowingKeepsEverySlot) {
  Cpu cpu;
  rt::KvMemory kv(*cpu.be, 2, 4, 4, 4096);
  std::vector<int32_t> pos(300);
  std::iota(pos.begin(), pos.end(), 0);
  kv.append(filled(*cpu.be, 300, 8, 0.f), filled(*cpu.be, 300, 8, 0.f), pos.data());
  const int64_t before = kv.capacity();
  const int32_t next[] = {300};
  kv.append(filled(*cpu.be, 1, 8, 5000.f), filled(*cpu.be, 1, 8, 0.f), next);
  kv.reserve(1500);
  EXPECT_GT(kv.capacity(), before);
  const float* keys = cpu.be->host_address(*kv.keys());
  EXPECT_EQ(keys[1 * kv.key_head_stride() + 299 * 4 + 3], 299.f * 8 + 7);
  EXPECT_EQ(keys[0 * kv.key_head_stride() + 300 * 4], 5000.f);
  EXPECT_THROW(kv.reserve(5000), Error);
}

TEST(KvMemory, PositionsWithGapsAreReportedAsRanges) {
  Cpu cpu;
  rt::KvMemory kv(*cpu.be, 1, 2, 2, 64);
  const int32_t pos[] = {10, 11, 12, 20, 21};
  kv.append(filled(*cpu.be, 5, 2, 0.f), filled(*cpu.be, 5, 2, 0.f), pos);
  EXPECT_FALSE(kv.in_position_order());
  EXPECT_EQ(kv.slot_positions()[3], 20);
  EXPECT_EQ(kv.resident_ranges(), (std::vector<std::pair<int64_t, int64_t>>{{10, 13}, {20, 22}}));
  kv.reset();
  EXPECT_EQ(kv.n_slots(), 0);
  EXPECT_TRUE(kv.in_position_order());
  EXPECT_TRUE(kv.resident_ranges().empty());
}

TEST(RecurrentState, HasItsShapeAndResetsToZero) {
  Cpu cpu;
  rt::RecurrentState s(*cpu.be, /*heads*/ 2, /*rows*/ 3, /*cols*/ 4, /*conv channels*/ 5, /*conv width*/ 4);
  EXPECT_EQ(s.state().rows, 6);
  EXPECT_EQ(s.state().cols, 4);
  EXPECT_EQ(s.conv().rows, 5);
  EXPECT_EQ(s.conv().cols, 3);
  EXPECT_EQ(s.bytes_reserved(), (24u + 15u) * sizeof(float));
  const auto ones = filled(*cpu.be, 6, 4, 1.f);
  cpu.be->add(s.state(), ones);
  EXPECT_EQ(cpu.be->host_address(*s.state().buffer)[23], 24.f);
  s.reset();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(cpu.be->host_address(*s.state().buffer)[i], 0.f);
}

TEST(ModelMemory, OneMemoryPerLayerFromTheDescriptors) {
  Cpu cpu;
  rt::LayerDesc kv1;
  kv1.memory = "kv_cache", kv1.n_heads = 4, kv1.n_kv_heads = 2, kv1.key_dim = 8, kv1.value_dim = 8;
  rt::LayerDesc state;
  state.memory = "recurrent_state", state.n_heads = 2, state.state_rows = 4, state.state_cols = 8;
  rt::LayerDesc kv2 = kv1;
  kv2.n_kv_heads = 1, kv2.key_dim = kv2.value_dim = 16;
  rt::ModelMemory m;
  m.configure(*cpu.be, {kv1, state, kv2}, 128, "model.gguf");
  ASSERT_EQ(m.n_layers(), 3);
  ASSERT_NE(m.kv(0), nullptr);
  EXPECT_EQ(m.kv(1), nullptr);
  ASSERT_NE(m.state(1), nullptr);
  EXPECT_EQ(m.kv(2)->key_dim(), 16);
  EXPECT_EQ(m.kv(0)->bytes_per_slot(), 2u * 16 * sizeof(float));
  EXPECT_EQ(m.kv(2)->bytes_per_slot(), 1u * 32 * sizeof(float));
  m.reserve(10);
  EXPECT_EQ(m.bytes_reserved(), m.kv(0)->bytes_reserved() + m.state(1)->bytes_reserved() + m.kv(2)->bytes_reserved());
  rt::LayerDesc tokens = kv1;
  tokens.memory = "memory_tokens";
  try {
    m.configure(*cpu.be, {tokens}, 128, "model.gguf");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("memory_tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mnemo::test

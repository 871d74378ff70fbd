// Probes carry what makes every attention score recomputable: post-RoPE q and k and each row's
// log-sum-exp. Scores recomputed from a probe must equal a softmax computed independently here.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "mnemo/runtime/kinds.h"
#include "test_util.h"

namespace mnemo::test {
namespace {

struct Recorder : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  bool wants_kv() const override { return true; }
  bool wants_residual() const override { return true; }
  bool wants_op_timings() const override { return true; }
  void on_step_begin(const rt::StepProbe& s) override { steps.push_back(s); }
  void on_step_end(const rt::StepProbe& s) override { steps.back().end_ns = s.end_ns; }
  void on_mixer(const rt::MixerProbe& p) override {
    ++attention_calls;
    ASSERT_TRUE(p.is_softmax());
    const rt::FactorSpan* q = p.factor("q");
    const rt::FactorSpan* k = p.factor("k");
    ASSERT_TRUE(q && k && p.factor("lse"));
    ASSERT_EQ(p.query_positions.size(), static_cast<size_t>(p.n_q));
    ASSERT_EQ(p.key_positions.size(), static_cast<size_t>(p.n_k));
    for (int64_t j = 0; j < p.n_k; ++j) EXPECT_EQ(p.key_positions[static_cast<size_t>(j)], j);  // slots in order
    // Check exactness while the pointers are valid: independent softmax of q·k·scale per row.
    for (int32_t h = 0; h < p.n_heads; ++h) {
      const int32_t kvh = h / (p.n_heads / p.n_kv_heads);
      for (int64_t i = 0; i < p.n_q; ++i) {
        const int64_t qpos = p.q_pos0 + i;
        EXPECT_EQ(p.query_positions[static_cast<size_t>(i)], qpos);
        std::vector<double> s;
        for (int64_t j = 0; j <= qpos; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < q->cols; ++d) dot += double(q->at(h, i)[d]) * k->at(kvh, j)[d];
          s.push_back(dot * p.scale);
        }
        const double m = *std::max_element(s.begin(), s.end());
        double z = 0;
        for (double v : s) z += std::exp(v - m);
        const auto row = rt::attention_row(p, h, i);
        double sum = 0;
        for (int64_t j = 0; j < p.n_k; ++j) {
          const double expect = j <= qpos ? std::exp(s[static_cast<size_t>(j)] - m) / z : 0.0;
          max_err = std::max(max_err, std::abs(row[static_cast<size_t>(j)] - expect));
          sum += row[static_cast<size_t>(j)];
        }
        max_sum_err = std::max(max_sum_err, std::abs(sum - 1.0));
      }
    }
    shapes.push_back({p.step, p.layer, p.n_q, p.n_k});
  }
  void on_kv(const rt::KvProbe& p) override { kv.push_back(p); }
  void on_residual(const rt::ResidualProbe& p) override { ++residuals[p.step]; }
  void on_op(const rt::OpTiming& t) override { ops.push_back(t); }

  std::vector<rt::StepProbe> steps;
  std::vector<std::array<int64_t, 4>> shapes;
  std::vector<rt::KvProbe> kv;
  std::map<int64_t, int> residuals;
  std::vector<rt::OpTiming> ops;
  int attention_calls = 0;
  double max_err = 0, max_sum_err = 0;
};

TEST(Probes, AttentionIsExactlyRecomputableAcrossPrefillAndDecode) {
  auto model = open_test_model(std::string(MNEMO_TINY_DIR) + "/llama-gguf/model.gguf");  // GQA
  Recorder rec;
  model->set_probe_sink(&rec);
  const std::vector<int32_t> prompt{5, 17, 42, 99, 3, 250};
  model->forward(prompt);
  const int32_t next = 7;
  model->forward(std::span<const int32_t>(&next, 1));
  model->forward(std::span<const int32_t>(&next, 1));

  const int layers = model->info().n_layers;
  ASSERT_EQ(rec.steps.size(), 3u);
  EXPECT_EQ(rec.steps[0].kind, rt::StepKind::Prefill);
  EXPECT_EQ(rec.steps[1].kind, rt::StepKind::Decode);
  EXPECT_EQ(rec.steps[2].step, 2);
  for (const auto& s : rec.steps) EXPECT_GE(s.end_ns, s.start_ns);
  EXPECT_EQ(rec.attention_calls, 3 * layers);
  EXPECT_LT(rec.max_err, 1e-5);
  EXPECT_LT(rec.max_sum_err, 1e-5);
  EXPECT_EQ(rec.shapes.front(), (std::array<int64_t, 4>{0, 0, 6, 6}));
  EXPECT_EQ(rec.shapes.back(), (std::array<int64_t, 4>{2, layers - 1, 1, 8}));

  ASSERT_EQ(rec.kv.size(), static_cast<size_t>(3 * layers));
  EXPECT_EQ(rec.kv.back().n_resident, 8);
  EXPECT_EQ(rec.kv.back().bytes_used, 8ull * 2 * model->info().n_kv_heads * model->info().head_dim * sizeof(float));
  EXPECT_EQ(rec.kv.back().bytes_used, model->memory().kv(layers - 1)->bytes_used());
  EXPECT_EQ(rec.kv.back().resident_ranges, (std::vector<std::pair<int64_t, int64_t>>{{0, 8}}));
  EXPECT_EQ(rec.residuals[0], layers);
  EXPECT_EQ(rec.residuals[2], layers);

  bool saw_matmul = false, saw_attention = false, saw_lm_head = false;
  for (const auto& op : rec.ops) {
    EXPECT_LE(op.start_ns, op.end_ns);
    EXPECT_GE(op.layer, -1);
    EXPECT_LT(op.layer, layers);
    EXPECT_STREQ(op.kind_name, rt::op_kind_name(op.kind));
    const std::string kind = op.kind_name;
    saw_matmul |= kind == "matmul";
    saw_attention |= kind == "attention" && op.layer >= 0;
    saw_lm_head |= kind == "lm_head" && op.layer == -1;
  }
  EXPECT_TRUE(saw_matmul && saw_attention && saw_lm_head);
}

// The registered op kinds keep the ids of session schema v1's _op_kind table.
TEST(Probes, BuiltinOpKindsKeepTheirSchemaV1Ids) {
  const char* v1[] = {"embed", "norm", "matmul", "rope", "attention", "activation", "add", "lm_head"};
  for (int32_t id = 0; id < 8; ++id) {
    EXPECT_STREQ(rt::op_kind_name(id), v1[id]);
    EXPECT_EQ(rt::op_kinds().find(v1[id]), id);
  }
  const int32_t fresh = rt::op_kinds().intern("probes_test_op");
  EXPECT_GE(fresh, 8);
  EXPECT_EQ(rt::op_kinds().intern("probes_test_op"), fresh);
  EXPECT_EQ(rt::op_kind_names()[static_cast<size_t>(fresh)], "probes_test_op");
}

TEST(Probes, UnsubscribingStopsEveryProbe) {
  auto model = open_test_model(std::string(MNEMO_TINY_DIR) + "/gpt2-gguf/model.gguf");
  Recorder rec;
  model->set_probe_sink(&rec);
  const std::vector<int32_t> prompt{1, 2, 3};
  model->forward(prompt);
  const size_t ops = rec.ops.size();
  model->set_probe_sink(nullptr);
  model->reset();
  model->forward(prompt);
  EXPECT_EQ(rec.ops.size(), ops);
  EXPECT_EQ(rec.steps.size(), 1u);
}

}  // namespace
}  // namespace mnemo::test

// Recorded sessions of the recurrent families against the engine that produced them: each tiny
// model (tools/reference/make_family_models.py) is recorded with record_run (prefill, then decode
// steps), then generated again unrecorded with the engine's own probes kept. The reader's level-0
// tiles (the MixerMap over the stored factors) must equal the implicit attention computed from the
// engine's probe factors as the engine laid them out (strided [T][H][width], no session involved),
// and the recorded state statistics must equal the norm and participation ratio of the engine's
// StateProbe at every step.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "../runtime/test_util.h"
#include "mnemo/kernels/ssm.h"
#include "mnemo/profiler/session/implicit_attention.h"
#include "mnemo/profiler/session/session_reader.h"
#include "mnemo/record/record_run.h"
#include "recording_test_util.h"
#include "mnemo/runtime/generate.h"

namespace mnemo::test {
namespace {

const std::string kFamilyDir = MNEMO_FAMILY_DIR;

// One factor of one layer over the run, in the engine's own layout: token t's values of head h at
// (t · heads + h) · cols (per-token factors), or the per-layer values as published.
struct EngineFactor {
  int64_t heads = 0, cols = 0;
  bool per_token = true;
  std::vector<float> values;
};

struct EngineLayer {
  std::string mixer;
  float scale = 1.f;
  int32_t n_heads = 0;
  std::map<std::string, EngineFactor> factors;
};

struct EngineProbes : rt::ProbeSink {
  bool wants_mixer() const override { return true; }
  bool wants_state() const override { return true; }
  void on_mixer(const rt::MixerProbe& p) override {
    if (p.is_softmax()) return;
    EngineLayer& l = layers[p.layer];
    l.mixer = p.mixer, l.scale = p.scale, l.n_heads = p.n_heads;
    for (const rt::FactorSpan& f : p.factors) {
      EngineFactor& e = l.factors[f.name];
      e.heads = f.heads, e.cols = f.cols;
      e.per_token = f.rows == p.n_q && std::string(f.name) != "A" && !(l.mixer == "retnet" && std::string(f.name) == "g");
      if (!e.per_token) {
        e.values.clear();
        for (int64_t h = 0; h < f.heads; ++h)
          for (int64_t r = 0; r < f.rows; ++r) e.values.insert(e.values.end(), f.at(h, r), f.at(h, r) + f.cols);
        continue;
      }
      const int64_t end = (p.q_pos0 + p.n_q) * f.heads * f.cols;
      if (static_cast<int64_t>(e.values.size()) < end) e.values.resize(static_cast<size_t>(end));
      for (int64_t i = 0; i < p.n_q; ++i)
        for (int64_t h = 0; h < f.heads; ++h)
          std::copy_n(f.at(h, i), f.cols, e.values.data() + ((p.q_pos0 + i) * f.heads + h) * f.cols);
    }
  }
  void on_state(const rt::StateProbe& s) override {
    const int64_t per_head = int64_t{s.rows} * s.cols;
    for (int32_t h = 0; h < s.heads; ++h) {
      const float* m = s.state + h * per_head;
      // Σσ² and Σσ⁴ the long way: the Gram matrix SᵀS over columns (the recorder uses the smaller side).
      double ss = 0, s4 = 0;
      for (int64_t i = 0; i < per_head; ++i) ss += double{m[i]} * m[i];
      for (int64_t a = 0; a < s.cols; ++a)
        for (int64_t b = 0; b < s.cols; ++b) {
          double g = 0;
          for (int64_t r = 0; r < s.rows; ++r) g += double{m[r * s.cols + a]} * m[r * s.cols + b];
          s4 += g * g;
        }
      states[{s.layer, h, s.step}] = {std::sqrt(ss), ss == 0 ? 0.0 : ss * ss / s4};
    }
  }
  std::map<int32_t, EngineLayer> layers;
  std::map<std::tuple<int32_t, int32_t, int64_t>, std::pair<double, double>> states;
};

// Head h's map [T][T] from the engine's factors.
std::vector<float> engine_map(const EngineLayer& l, int32_t h, const profiler::MixerLayer& desc, int64_t T) {
  std::vector<float> out(static_cast<size_t>(T * T), 0.f);
  const profiler::TileRange all{0, T, 0, T};
  auto f = [&](const char* name) -> const EngineFactor& { return l.factors.at(name); };
  const std::string& m = l.mixer;
  if (m == "linear" || m == "retnet" || m == "gla" || m == "delta" || m == "gated_delta") {
    const int64_t H = l.n_heads, dk = f("q").cols;
    const float* q = f("q").values.data() + h * dk;
    const float* k = f("k").values.data() + h * dk;
    if (m == "delta" || m == "gated_delta") {
      profiler::DeltaFactors d;
      d.q = q, d.q_stride = H * dk, d.k = k, d.k_stride = H * dk, d.dim = dk, d.scale = l.scale;
      d.beta = f("beta").values.data() + h, d.beta_stride = H;
      if (m == "gated_delta") d.log_alpha = f("g").values.data() + h, d.log_alpha_stride = H;
      profiler::delta_implicit_attention(d, all, out.data(), T);
    } else {
      profiler::DecayFactors d;
      d.q = q, d.q_stride = H * dk, d.k = k, d.k_stride = H * dk, d.dim = dk, d.scale = l.scale;
      if (m == "retnet") d.decay.per_step = f("g").values.at(static_cast<size_t>(h));
      if (m == "gla") d.decay.per_token = f("g").values.data() + h * dk, d.decay.stride = H * dk, d.decay.per_dim = true;
      profiler::decay_implicit_attention(d, all, out.data(), T);
    }
  } else if (m == "mamba2") {
    const int64_t H = l.n_heads, N = desc.state_cols;
    const profiler::Mamba2Factors m2{f("dt").values.data(), f("A").values.data(), f("B").values.data(),
                                     f("C").values.data(), H, N, f("B").cols / N};
    profiler::mamba2_implicit_attention(m2, h, all, out.data(), T);
  } else if (m == "mamba1") {
    const int64_t N = desc.state_cols, D = f("dt").cols;
    const profiler::Mamba1Factors m1{f("dt").values.data(), f("A").values.data(), f("B").values.data(),
                                     f("C").values.data(), D, N, f("B").cols / N};
    profiler::mamba1_mean_implicit_attention(m1, h * desc.state_rows, (h + 1) * desc.state_rows, all, out.data(), T);
  } else {
    ADD_FAILURE() << "no engine map for mixer " << m;
  }
  return out;
}

// A greedy recording of `prompt` and n_new tokens into a fresh session `file` of this suite.
record::RecordRequest greedy_request(const std::string& file, const std::string& prompt, int64_t n_new,
                                     const std::string& captures) {
  record::RecordRequest req;
  req.session_path = temp_session("mnemo-fam", file);
  req.prompt = prompt;
  req.n_new = n_new;
  req.sampling.temperature = 0;
  req.captures = record::Captures::parse(captures);
  return req;
}

class RecordedFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(RecordedFamily, SessionMapsAndStatesEqualTheEngine) {
  const std::string name = GetParam();
  auto model = open_test_model(kFamilyDir + "/" + name);
  const record::RecordRequest req =
      greedy_request(name + ".mnemo", "the state of a recurrent layer keeps what it saw", 5, "attention,memory,states");
  const record::RecordResult r = record::record_run(*model, req);

  EngineProbes engine;
  const auto out = generate_with_sink(*model, req, engine);
  EXPECT_EQ(model->tokenizer().decode(out), r.generated_text) << "recording changed the generated text";
  ASSERT_FALSE(engine.layers.empty()) << name << " published no recurrent mixer probe";

  profiler::SessionReader reader(req.session_path);
  const int64_t run = r.run_id, step = reader.newest_step(run);
  double worst = 0;
  for (const auto& [layer, l] : engine.layers) {
    const profiler::MixerLayer& desc = reader.layer(run, layer);
    EXPECT_EQ(desc.mixer, l.mixer);
    EXPECT_EQ(desc.memory, "recurrent_state");
    EXPECT_FLOAT_EQ(desc.scale, l.scale) << "layer " << layer << ": the _layer row keeps the probe's scale";
    const std::string label = reader.map_label(run, layer);
    EXPECT_EQ(label.rfind("implicit attention, exact", 0), 0u) << label;
    for (int32_t h = 0; h < l.n_heads; ++h) {
      const profiler::MapShape shape = reader.map_shape(run, step, layer, h);
      const int64_t T = shape.rows;
      ASSERT_EQ(shape.cols, T);
      const std::vector<float> want = engine_map(l, h, desc, T);
      double scale = 0;
      for (float v : want) scale = std::max(scale, static_cast<double>(std::abs(v)));
      ASSERT_GT(scale, 0.0);
      const profiler::AttentionTile t = reader.tile(run, step, layer, h, 0, 0, 0);  // T < 256: one tile
      ASSERT_EQ(t.rows, T);
      ASSERT_EQ(t.cols, T);
      EXPECT_EQ(t.label, label);
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) {
          const double d = std::abs(double{t.max[static_cast<size_t>(i * T + j)]} - want[static_cast<size_t>(i * T + j)]);
          if (d / scale > 1e-5 && std::getenv("MNEMO_DEBUG_FAMILY"))
            std::printf("layer %d head %d (%lld, %lld): session %g engine %g\n", layer, h, (long long)i, (long long)j,
                        t.max[static_cast<size_t>(i * T + j)], want[static_cast<size_t>(i * T + j)]);
          worst = std::max(worst, d / scale);
        }
      // A pooled level goes through the same path.
      const profiler::AttentionTile pooled = reader.tile(run, step, layer, h, 1, 0, 0);
      EXPECT_EQ(pooled.rows, (T + 1) / 2);
      EXPECT_EQ(pooled.label, label);
    }
  }
  EXPECT_LE(worst, 1e-5) << name << ": session map vs engine factors, relative to the map's largest value";
  std::printf("%s: %zu recurrent layers, %lld tokens, max |session − engine| / max|A| = %.2e\n", name.c_str(),
              engine.layers.size(), static_cast<long long>(reader.map_shape(run, step, engine.layers.begin()->first, 0).rows),
              worst);

  // Every (layer, head, step) of the engine's states has its row, equal to a direct computation.
  const std::vector<profiler::StateStatRecord> stats = reader.state_stats(run);
  EXPECT_EQ(stats.size(), engine.states.size());
  for (const profiler::StateStatRecord& s : stats) {
    const auto it = engine.states.find({s.layer, s.head, s.step});
    ASSERT_NE(it, engine.states.end()) << "layer " << s.layer << " head " << s.head << " step " << s.step;
    EXPECT_NEAR(s.norm, it->second.first, 1e-9 + 1e-9 * it->second.first);
    EXPECT_NEAR(s.effective_rank, it->second.second, 1e-5 * std::max(1.0, it->second.second));  // fp32 Gram (state_stats.h)
    EXPECT_GE(s.effective_rank, s.norm > 0 ? 1.0 - 1e-9 : 0.0);
  }
  // The full matrices were asked for: one per layer, head and step.
  const auto& [first_layer, first] = *engine.layers.begin();
  EXPECT_EQ(reader.state_matrices(run, first_layer, 0).size(), static_cast<size_t>(step + 1));
}

// Channel d's map [T][T] from the engine's own selective scan, not from any implicit-attention
// formula: T copies of channel d (its Δ and A row, its group's B and C, as the engine's probe
// published them), copy j fed x_t = [t == j], so output i of copy j is A_d[i][j].
std::vector<float> scan_channel_map(const EngineLayer& l, int64_t d, int64_t N, int64_t T) {
  const EngineFactor &dt = l.factors.at("dt"), &A = l.factors.at("A"), &B = l.factors.at("B"), &C = l.factors.at("C");
  const int64_t D = dt.cols, G = B.cols / N, g = d / (D / G);
  std::vector<float> x(static_cast<size_t>(T * T), 0.f), delta(x.size()), a(static_cast<size_t>(T * N)),
      b(static_cast<size_t>(T * N)), c(b.size()), state(a.size(), 0.f), out(x.size());
  for (int64_t t = 0; t < T; ++t) {
    std::copy_n(&B.values[static_cast<size_t>(t * B.cols + g * N)], N, &b[static_cast<size_t>(t * N)]);
    std::copy_n(&C.values[static_cast<size_t>(t * C.cols + g * N)], N, &c[static_cast<size_t>(t * N)]);
  }
  for (int64_t j = 0; j < T; ++j) {
    x[static_cast<size_t>(j * T + j)] = 1.f;
    std::copy_n(&A.values[static_cast<size_t>(d * N)], N, &a[static_cast<size_t>(j * N)]);
    for (int64_t t = 0; t < T; ++t) delta[static_cast<size_t>(t * T + j)] = dt.values[static_cast<size_t>(t * D + d)];
  }
  kernels::SelectiveScanArgs s;
  s.x = x.data(), s.delta = delta.data(), s.A = a.data(), s.B = b.data(), s.C = c.data();
  s.T = T, s.D = T, s.N = N, s.G = 1, s.state = state.data(), s.out = out.data();
  ThreadPool pool(2);
  kernels::selective_scan(pool, s);
  return out;
}

// Mamba-1's per-channel view, recorded: the reader's map of channel c of a head (level 0, and a
// pooled level) equals the engine's scan driven by one-hot inputs through that channel, is labelled
// as that channel's, and the head's map (the default view) is the mean of its channels' maps.
TEST(RecordedMamba1, ChannelMapsEqualTheScanAndAverageToTheHeadsMap) {
  auto model = open_test_model(kFamilyDir + "/mamba");
  const record::RecordRequest req =
      greedy_request("mamba-channels.mnemo", "each channel of a selective scan decays on its own", 4, "attention");
  const record::RecordResult r = record::record_run(*model, req);
  EngineProbes engine;
  generate_with_sink(*model, req, engine);
  ASSERT_FALSE(engine.layers.empty());

  profiler::SessionReader reader(req.session_path);
  const int64_t run = r.run_id, step = reader.newest_step(run);
  double worst_scan = 0, worst_mean = 0;
  int64_t channels_checked = 0;
  for (const auto& [layer, l] : engine.layers) {
    const profiler::MixerLayer& desc = reader.layer(run, layer);
    ASSERT_EQ(desc.mixer, "mamba1");
    const int64_t per_head = reader.channels_per_head(run, layer);
    ASSERT_EQ(per_head, desc.state_rows) << "a Mamba-1 head offers one map per channel of its state";
    ASSERT_GT(per_head, 1);
    EXPECT_THROW(reader.tile(run, step, layer, 0, 0, 0, 0, per_head), Error);
    EXPECT_THROW(reader.row(run, layer, 0, 0, -2), Error);
    for (int32_t h = 0; h < desc.n_heads; ++h) {
      const profiler::MapShape shape = reader.map_shape(run, step, layer, h);
      EXPECT_EQ(shape.channels_per_head, per_head);
      const int64_t T = shape.rows;
      const profiler::AttentionTile head_map = reader.tile(run, step, layer, h, 0, 0, 0);
      EXPECT_EQ(head_map.label, "implicit attention, exact, mean over channels");
      std::vector<double> mean(static_cast<size_t>(T * T), 0.0);
      for (int64_t c = 0; c < per_head; ++c) {
        const profiler::AttentionTile t = reader.tile(run, step, layer, h, 0, 0, 0, c);
        ASSERT_EQ(t.rows, T);
        ASSERT_EQ(t.cols, T);
        EXPECT_EQ(t.label, "implicit attention, exact, channel " + std::to_string(c) + " of head " + std::to_string(h));
        EXPECT_EQ(reader.map_label(run, layer, h, c), t.label);
        const std::vector<float> want = scan_channel_map(l, h * per_head + c, desc.state_cols, T);
        double scale = 0;
        for (float v : want) scale = std::max(scale, static_cast<double>(std::abs(v)));
        ASSERT_GT(scale, 0.0) << "channel " << c;
        for (size_t i = 0; i < want.size(); ++i) {
          worst_scan = std::max(worst_scan, std::abs(double{t.max[i]} - want[i]) / scale);
          mean[i] += t.max[i] / static_cast<double>(per_head);
        }
        // A row and a pooled level of the channel go through the same map.
        const std::vector<float> row = reader.row(run, layer, h, T - 1, c);
        ASSERT_EQ(static_cast<int64_t>(row.size()), T);
        for (int64_t j = 0; j < T; ++j)
          EXPECT_NEAR(row[static_cast<size_t>(j)], t.max[static_cast<size_t>((T - 1) * T + j)], 1e-6 * scale);
        const profiler::AttentionTile pooled = reader.tile(run, step, layer, h, 1, 0, 0, c);
        EXPECT_EQ(pooled.label, t.label);
        EXPECT_EQ(pooled.recomputed_rows, T);
        for (int64_t i = 0; i < pooled.rows; ++i)
          for (int64_t j = 0; j < pooled.cols; ++j) {
            float mx = -std::numeric_limits<float>::infinity();
            for (int64_t a = 2 * i; a < std::min(T, 2 * i + 2); ++a)
              for (int64_t b = 2 * j; b < std::min(T, 2 * j + 2); ++b) mx = std::max(mx, t.max[static_cast<size_t>(a * T + b)]);
            EXPECT_EQ(pooled.max[static_cast<size_t>(i * pooled.cols + j)], mx) << "channel " << c << " cell " << i << ", " << j;
          }
        ++channels_checked;
      }
      // Relative to the head map's largest value; the head's map sums the same float channel maps
      // in float, so only that sum's rounding may differ.
      double head_scale = 0;
      for (float v : head_map.max) head_scale = std::max(head_scale, static_cast<double>(std::abs(v)));
      ASSERT_GT(head_scale, 0.0);
      for (size_t i = 0; i < mean.size(); ++i)
        worst_mean = std::max(worst_mean, std::abs(mean[i] - head_map.max[i]) / head_scale);
    }
  }
  EXPECT_LE(worst_scan, 1e-5) << "channel maps vs the engine's one-hot scan, relative to each map's largest value";
  EXPECT_LE(worst_mean, 1e-6) << "the mean of the channel maps vs the head's map";
  std::printf("mamba: %lld channel maps, max |channel map − one-hot scan| / max = %.2e, max |mean of channels − head| / max "
              "= %.2e\n",
              static_cast<long long>(channels_checked), worst_scan, worst_mean);
}

INSTANTIATE_TEST_SUITE_P(Families, RecordedFamily,
                         ::testing::Values("linear_attn", "retnet", "gla", "delta_net", "gated_deltanet", "hybrid_gated_deltanet", "mamba",
                                           "mamba2"));

}  // namespace
}  // namespace mnemo::test

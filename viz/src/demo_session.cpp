#include "mnemo/viz/demo_session.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "mnemo/profiler/session/attention_math.h"
#include "mnemo/profiler/session/recorder.h"

namespace mnemo::viz {
namespace {

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

const char* kWords[] = {"The", " memory", " of", " a", " model", " is", " what", " it", " keeps", " from", " the",
                        " past", ",", " and", " attention", " reads", " it", " back", " when", " a", " token",
                        " needs", " it", "."};

// Positional features in pairs (cos ωp, sin ωp), at frequencies from 2 down: q_i · k_j then
// depends on i − j and peaks where the query's offset says; `strength` sets how sharp.
void positional(float* out, int pairs, double pos, double strength) {
  for (int f = 0; f < pairs; ++f) {
    const double w = 2.0 * std::pow(0.7, f);
    out[2 * f] = static_cast<float>(strength * std::cos(w * pos));
    out[2 * f + 1] = static_cast<float>(strength * std::sin(w * pos));
  }
}

struct HeadVectors {
  std::vector<float> q, k;  // [pos][d]: a query head's q, a KV head's k
};

// The key layout every KV head shares: positional pairs, then a sink flag (set at position 0),
// then a content feature (which word). Query heads pick what they look for.
void kv_vectors(int group, int64_t n, int d, std::mt19937_64& rng, std::vector<float>& k) {
  std::normal_distribution<float> noise(0.f, 0.05f * static_cast<float>(group));
  k.assign(static_cast<size_t>(n * d), 0.f);
  for (int64_t p = 0; p < n; ++p) {
    float* kp = k.data() + p * d;
    positional(kp, (d - 2) / 2, static_cast<double>(p), 1.0);
    for (int i = 0; i < d - 2; ++i) kp[i] += noise(rng);
    kp[d - 2] = p == 0 ? 6.f : 0.f;
    kp[d - 1] = 1.f + static_cast<float>(p % std::size(kWords) % 5);
  }
}

void query_vectors(int pattern, int layer, int64_t n, int d, std::mt19937_64& rng, std::vector<float>& q) {
  std::normal_distribution<float> noise(0.f, 1.f);
  q.assign(static_cast<size_t>(n * d), 0.f);
  const int pairs = (d - 2) / 2;
  for (int64_t p = 0; p < n; ++p) {
    float* qp = q.data() + p * d;
    switch (pattern) {
      case 0:  // attention sink: every query finds position 0
        qp[d - 2] = 6.f;
        break;
      case 1:  // the previous token
        positional(qp, pairs, static_cast<double>(p - 1), 5.0 + 0.5 * layer);
        break;
      case 2:  // local: recent keys, decaying with distance
        positional(qp, pairs, static_cast<double>(p), 1.6);
        break;
      default:  // content-like: noise, plus a pull towards words that share a feature
        for (int i = 0; i < d - 2; ++i) qp[i] = noise(rng);
        qp[d - 1] = 0.8f * (1.f + static_cast<float>(p % std::size(kWords) % 5));
        break;
    }
  }
}

}  // namespace

int64_t write_demo_session(const std::string& path, const DemoOptions& o) {
  const int64_t total = o.prompt_tokens + o.decode_steps;
  profiler::RunInfo info;
  info.label = o.label;
  info.model_path = "(synthetic)";
  info.model_format = "synthetic";
  info.architecture = "demo";
  info.plugin_id = "viz-demo";
  info.plugin_version = "1";
  info.n_layers = o.layers, info.n_heads = o.heads, info.n_kv_heads = o.kv_heads, info.head_dim = o.head_dim;
  info.d_model = o.heads * o.head_dim, info.vocab_size = static_cast<int64_t>(std::size(kWords));
  info.context_length = total;
  for (int64_t p = 0; p < o.prompt_tokens; ++p) info.prompt += kWords[p % std::size(kWords)];
  info.captures = "attention,metrics,pyramids,kv,ops,memory";
  info.wall_start_utc = "1970-01-01T00:00:00Z";
  info.start_ns = now_ns();
  info.op_kinds = {"embed", "norm", "matmul", "rope", "attention", "activation", "add", "lm_head"};  // the engine's names
  profiler::Recorder rec(path, info);

  std::mt19937_64 rng(o.seed);
  const int d = o.head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  // Every (layer, head)'s queries and every (layer, KV head)'s keys up front; steps send their rows.
  std::vector<HeadVectors> heads(static_cast<size_t>(o.layers * o.heads));
  std::vector<HeadVectors> kv(static_cast<size_t>(o.layers * o.kv_heads));
  for (int l = 0; l < o.layers; ++l) {
    for (int h = 0; h < o.heads; ++h) query_vectors(demo_head_pattern(h), l, total, d, rng, heads[static_cast<size_t>(l * o.heads + h)].q);
    for (int g = 0; g < o.kv_heads; ++g) kv_vectors(g, total, d, rng, kv[static_cast<size_t>(l * o.kv_heads + g)].k);
  }
  const int group = std::max(1, o.heads / o.kv_heads);

  int64_t t = info.start_ns, op_id = 0;
  auto windowed = [&](int l) { return l >= 2; };
  for (int64_t step = 0, pos0 = 0; pos0 < total; ++step) {
    const int64_t n_q = step == 0 ? o.prompt_tokens : 1;
    const int64_t n_k = pos0 + n_q;
    const int64_t step_start = t;
    std::vector<profiler::Record> small;
    for (int l = 0; l < o.layers; ++l) {
      profiler::AttentionCapture c;
      c.step = step, c.layer = l, c.q_pos0 = pos0, c.n_q = n_q, c.n_k = n_k;
      c.n_heads = o.heads, c.n_kv_heads = o.kv_heads, c.head_dim = d, c.scale = scale;
      c.mask = windowed(l) ? profiler::AttentionMask::Window : profiler::AttentionMask::Causal;
      c.window = windowed(l) ? o.window : 0;
      // fp16-rounded values (as an engine computing in fp16 would give), stored as fp32.
      std::vector<uint16_t> q16(static_cast<size_t>(o.heads * n_q * d));
      c.lse.resize(static_cast<size_t>(o.heads * n_q));
      const profiler::MaskSpec mask{c.mask, c.window};
      for (int h = 0; h < o.heads; ++h) {
        const HeadVectors& hv = heads[static_cast<size_t>(l * o.heads + h)];
        const HeadVectors& kvh = kv[static_cast<size_t>(l * o.kv_heads + h / group)];
        profiler::f32_to_fp16({hv.q.data() + pos0 * d, static_cast<size_t>(n_q * d)}, q16.data() + h * n_q * d);
        // The log-sum-exp from the fp16-rounded factors, as an engine computing in fp16 would.
        std::vector<float> qr(static_cast<size_t>(n_q * d)), kr(static_cast<size_t>(n_k * d));
        profiler::fp16_to_f32({q16.data() + h * n_q * d, static_cast<size_t>(n_q * d)}, qr.data());
        std::vector<uint16_t> kh(static_cast<size_t>(n_k * d));
        profiler::f32_to_fp16({kvh.k.data(), kh.size()}, kh.data());
        profiler::fp16_to_f32(kh, kr.data());
        std::vector<profiler::QueryRow> rows(static_cast<size_t>(n_q));
        for (int64_t i = 0; i < n_q; ++i) rows[static_cast<size_t>(i)] = {pos0 + i, n_k, 0.f};
        std::vector<float> logits(static_cast<size_t>(n_q * n_k));
        profiler::attention_logits(qr, rows, kr, 0, n_k, d, scale, mask, logits.data());
        for (int64_t i = 0; i < n_q; ++i) {
          const float* row = logits.data() + i * n_k;
          float mx = -INFINITY;
          for (int64_t j = 0; j < n_k; ++j) mx = std::max(mx, row[j]);
          double sum = 0;
          for (int64_t j = 0; j < n_k; ++j)
            if (std::isfinite(row[j])) sum += std::exp(static_cast<double>(row[j] - mx));
          c.lse[static_cast<size_t>(h * n_q + i)] = mx + static_cast<float>(std::log(sum));
        }
      }
      c.k_pos0 = pos0;
      std::vector<uint16_t> k16(static_cast<size_t>(o.kv_heads * n_q * d));
      for (int g = 0; g < o.kv_heads; ++g)
        profiler::f32_to_fp16({kv[static_cast<size_t>(l * o.kv_heads + g)].k.data() + pos0 * d, static_cast<size_t>(n_q * d)},
                              k16.data() + g * n_q * d);
      std::vector<float> q32(q16.size()), k32(k16.size());
      profiler::fp16_to_f32(q16, q32.data());
      profiler::fp16_to_f32(k16, k32.data());
      c.q = std::move(q32);
      c.k = std::move(k32);
      rec.submit(std::move(c));

      // KV occupancy: windowed layers keep 4 sink positions and the last `window` keys.
      profiler::KvRecord k;
      k.step = step, k.layer = l, k.capacity = total;
      if (windowed(l) && n_k > o.window + 4) {
        k.ranges = {{0, 4}, {n_k - o.window, n_k}};
        k.n_resident = 4 + o.window;
      } else {
        k.ranges = {{0, n_k}};
        k.n_resident = n_k;
      }
      k.bytes_used = k.n_resident * o.kv_heads * d * 2 * 2;
      k.bytes_reserved = total * o.kv_heads * d * 2 * 2;
      small.push_back(k);

      // Ops: norm, q/k/v matmul, rope, attention, output matmul, MLP, on two threads.
      const int64_t scale_ns = 2000 + 40 * n_q;
      const int kinds[] = {1, 2, 3, 4, 2, 1, 2, 5, 2, 6};
      for (int kind : kinds) {
        const int64_t dur = scale_ns * (kind == 2 ? 3 : kind == 4 ? 2 + n_k / 64 : 1);
        for (int thread = 0; thread < 2; ++thread)
          small.push_back(profiler::OpRecord{op_id++, step, kind, l, kind == 4 ? 0 : -1, thread, t + thread * 300,
                                             t + dur - (thread ? 500 : 0)});
        t += dur + 400;
      }

      // Memory tokens at each segment boundary: slots × d, drifting with the segment's content.
      if ((n_k / o.segment) != (pos0 / o.segment) || step == 0) {
        profiler::MemorySnapshotRecord m;
        m.step = step, m.layer = l, m.segment = n_k / o.segment, m.kind = "memory_tokens";
        m.rows = o.memory_slots, m.cols = o.heads * d;
        std::vector<float> values(static_cast<size_t>(m.rows * m.cols));
        std::normal_distribution<float> noise(0.f, 0.3f);
        for (int64_t s = 0; s < m.rows; ++s)
          for (int64_t c2 = 0; c2 < m.cols; ++c2)
            values[static_cast<size_t>(s * m.cols + c2)] =
                static_cast<float>(std::sin(0.3 * static_cast<double>(c2 + s * 7) + 0.5 * static_cast<double>(m.segment + l))) +
                noise(rng);
        m.data.resize(values.size());
        profiler::f32_to_fp16(values, m.data.data());
        m.norms.resize(static_cast<size_t>(m.rows));
        for (int64_t s = 0; s < m.rows; ++s) {
          double sq = 0;
          for (int64_t c2 = 0; c2 < m.cols; ++c2) sq += values[static_cast<size_t>(s * m.cols + c2)] * values[static_cast<size_t>(s * m.cols + c2)];
          m.norms[static_cast<size_t>(s)] = static_cast<float>(std::sqrt(sq));
        }
        small.push_back(std::move(m));
      }
    }
    for (int64_t p = pos0; p < n_k; ++p)
      small.push_back(profiler::TokenRecord{p, static_cast<int32_t>(p % std::size(kWords)), kWords[p % std::size(kWords)], step});
    rec.submit(std::move(small));
    profiler::StepRecord s;
    s.step = step, s.kind = step == 0 ? "prefill" : "decode", s.pos0 = pos0, s.n_tokens = n_q;
    s.start_ns = step_start, s.end_ns = t;
    rec.submit(s);
    rec.submit(profiler::CounterRecord{"tokens_per_s", t, static_cast<double>(n_q) * 1e9 / static_cast<double>(t - step_start)});
    rec.end_step(step);
    pos0 = n_k;
  }
  if (o.answer_every > 0) {
    int64_t k = 0;
    for (int64_t p = o.answer_every; p < o.prompt_tokens; p += o.answer_every, ++k) {
      profiler::AnswerRecord a;
      a.position = p;
      a.expected_token = static_cast<int32_t>(p % std::size(kWords));
      const bool right = demo_answer_right(k, o.seed);
      a.predicted_token = right ? a.expected_token : static_cast<int32_t>((p + 1) % std::size(kWords));
      a.predicted_text = kWords[static_cast<size_t>(a.predicted_token)];
      a.predicted_p = 0.5 + 0.4 * std::abs(std::sin(static_cast<double>(p + static_cast<int64_t>(o.seed))));
      a.expected_p = right ? a.predicted_p : 0.5 * (1 - a.predicted_p);
      rec.submit(a);
    }
  }
  const int64_t id = rec.run_id();
  rec.finish();
  return id;
}

}  // namespace mnemo::viz

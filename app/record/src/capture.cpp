#include "mnemo/record/capture.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <utility>

#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/profiler/session/attention_math.h"

namespace mnemo::record {

Captures Captures::parse(const std::string& list) {
  Captures c;
  if (list.empty() || list == "all") return c;
  c = Captures{false, false, false, false, false, false, false};
  if (list == "none") return c;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "attention") c.attention = true;
    else if (item == "metrics") c.metrics = true;
    else if (item == "pyramids" || item == "pyramid") c.pyramids = true;
    else if (item == "kv") c.kv = true;
    else if (item == "ops") c.ops = true;
    else if (item == "memory") c.memory = true;
    else if (item == "states") c.states = true;
    else if (item == "all") c = Captures{.states = c.states};
    else
      throw UsageError("unknown capture '" + item + "' (choose from attention, metrics, pyramids, kv, ops, memory, states, all, none)");
  }
  return c;
}

std::string Captures::to_string() const {
  std::string out;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!out.empty()) out += ',';
    out += name;
  };
  add(attention, "attention");
  add(metrics, "metrics");
  add(pyramids, "pyramids");
  add(kv, "kv");
  add(ops, "ops");
  add(memory, "memory");
  add(states, "states");
  return out;
}

ProbeRecorder::ProbeRecorder(profiler::Recorder& recorder, const Captures& captures, ThreadPool* pool)
    : recorder_(recorder), captures_(captures), pool_(pool) {}

void ProbeRecorder::flush() {
  recorder_.submit(std::exchange(step_captures_, {}));
  recorder_.submit(std::exchange(step_records_, {}));
}

void ProbeRecorder::on_step_end(const rt::StepProbe& s) {
  flush();  // the step's small captures, op timings and KV rows as two items, ahead of the step
  profiler::StepRecord r;
  r.step = s.step;
  r.kind = s.kind == rt::StepKind::Encode ? "encode" : s.kind == rt::StepKind::Decode ? "decode" : "prefill";
  if (encoder_) r.kind = "encode";
  r.pos0 = s.pos0, r.n_tokens = s.n_tokens, r.start_ns = s.start_ns, r.end_ns = s.end_ns;
  recorder_.submit(std::move(r));
  if (s.end_ns > s.start_ns)
    recorder_.submit(profiler::CounterRecord{"tokens_per_s", s.end_ns,
                                             static_cast<double>(s.n_tokens) * 1e9 / static_cast<double>(s.end_ns - s.start_ns)});
  if (captures_.kv) recorder_.submit(profiler::CounterRecord{"kv_bytes", s.end_ns, static_cast<double>(kv_bytes_)});
  kv_bytes_ = 0;
}

namespace {

// The softmax probe in the shape the schema v1 capture was written for: q [n_q][n_heads][d], the
// keys of KV head g at k + g * kv_head_stride + j * d, lse [n_heads][n_q].
struct SoftmaxFactors {
  int64_t step, q_pos0, n_q, n_k;
  int32_t layer, n_heads, n_kv_heads, head_dim;
  Mask mask;
  int64_t window;
  float scale;
  const float *q, *k, *lse;
  int64_t kv_head_stride;
  kernels::AttentionRowStats row_stats;
  kernels::AttentionPooledMap pooled;
};

SoftmaxFactors softmax_factors(const rt::MixerProbe& m) {
  const rt::FactorSpan* q = m.factor("q");
  const rt::FactorSpan* k = m.factor("k");
  const rt::FactorSpan* lse = m.factor("lse");
  if (!q || !k || !lse || q->head_stride != q->cols || q->row_stride != q->heads * q->cols || k->row_stride != k->cols ||
      lse->head_stride != m.n_q || lse->row_stride != 1)
    throw Error("softmax probe of layer " + std::to_string(m.layer) + " does not have the factor layout schema v1 records");
  return {m.step, m.q_pos0, m.n_q, m.n_k, m.layer, m.n_heads, m.n_kv_heads, static_cast<int32_t>(q->cols),
          m.mask, m.mask.window, m.scale, q->data, k->data, lse->data, k->head_stride, m.row_stats, m.pooled};
}

}  // namespace

void ProbeRecorder::record_recurrent_mixer(const rt::MixerProbe& m) {
  const auto layer = static_cast<size_t>(m.layer);
  if (layer_described_.size() <= layer) layer_described_.resize(layer + 1, false);
  if (!layer_described_[layer] && layer < layers_.size()) {
    profiler::LayerRecord l = layers_[layer];
    l.scale = m.scale;
    step_records_.push_back(std::move(l));
    layer_described_[layer] = true;
  }
  // Each factor as it is, heads as contiguous slices [heads][rows][cols] in fp32 (the reader's
  // recomputed map then equals the engine's). A factor with one row per token of the step starts
  // at the step's first position; the others (Mamba's A, RetNet's log γ) are per layer and
  // recorded at pos0 0 with every step, so any step's rows hold them.
  for (const rt::FactorSpan& f : m.factors) {
    if (!f.data || f.heads <= 0 || f.rows <= 0 || f.cols <= 0)
      throw Error("layer " + std::to_string(m.layer) + " (" + m.mixer + ") published factor '" + f.name +
                  "' with no data or an empty shape");
    profiler::MixerFactorRecord r;
    r.layer = m.layer, r.step = m.step, r.factor = f.name;
    r.n_heads = static_cast<int32_t>(f.heads), r.n = f.rows, r.width = static_cast<int32_t>(f.cols);
    const bool per_token = f.rows == m.n_q;
    r.pos0 = per_token ? m.q_pos0 : 0;
    r.n_keys = per_token ? m.q_pos0 + m.n_q : 0;
    std::vector<float> data(static_cast<size_t>(f.heads * f.rows * f.cols));
    float* to = data.data();
    for (int64_t h = 0; h < f.heads; ++h)
      for (int64_t row = 0; row < f.rows; ++row, to += f.cols) std::copy_n(f.at(h, row), f.cols, to);
    r.data = std::move(data);
    step_records_.push_back(std::move(r));
  }
}

void ProbeRecorder::on_state(const rt::StateProbe& s) {
  if (!s.state || s.heads <= 0 || s.rows <= 0 || s.cols <= 0) return;
  const int64_t per_head = int64_t{s.rows} * s.cols;
  if (captures_.memory) {
    // The engine waits for this every step (a Gated DeltaNet layer: 4 Gram matrices of 64 × 128),
    // so the heads are spread over its idle threads, each with its own scratch.
    stats_.resize(static_cast<size_t>(s.heads));
    const bool parallel = pool_ && pool_->size() > 1 && s.heads > 1;
    const size_t parts = parallel ? static_cast<size_t>(pool_->size()) : 1;  // run() hands out pool_->size() parts
    if (stat_scratch_.size() < parts) stat_scratch_.resize(parts);
    auto heads_of_part = [&](int part, int n_parts) {
      for (int64_t h = s.heads * part / n_parts; h < s.heads * (part + 1) / n_parts; ++h)
        stats_[static_cast<size_t>(h)] =
            norm_and_effective_rank(s.state + h * per_head, s.rows, s.cols, stat_scratch_[static_cast<size_t>(part)]);
    };
    if (parallel) pool_->run(heads_of_part);
    else heads_of_part(0, 1);
    for (int32_t h = 0; h < s.heads; ++h)
      step_records_.push_back(
          profiler::StateStatRecord{s.layer, h, s.step, stats_[static_cast<size_t>(h)].norm, stats_[static_cast<size_t>(h)].effective_rank});
  }
  if (captures_.states)
    for (int32_t h = 0; h < s.heads; ++h) {
      const float* m = s.state + h * per_head;
      step_records_.push_back(
          profiler::StateMatrixRecord{s.layer, h, s.step, s.rows, s.cols, std::vector<float>(m, m + per_head)});
    }
}

// Keys have identity: slot j of a probe holds the key of position key_positions[j] (of position j
// when the probe gives no positions), resident when key_resident[j] is 1 (every slot when it gives
// none), and the session stores each position's key once, at the first step that holds it: a
// capture's new keys are the positions k_pos0 .. n_k-1. After an eviction the slots are fewer
// than the positions and need not be in position order, so the new keys are found by position,
// never by counting slots. Only the step counter says the memory was emptied (Model::reset()
// starts again at step 0): a probe whose step does not follow its layer's last one starts the
// layer's keys over, so an eviction, which makes the slots fewer, is never taken for a reset.
// One scan over the slots (two when there are new keys and something was evicted): nothing next to
// the engine's attention, which reads every slot's key.
int64_t ProbeRecorder::new_keys(const rt::MixerProbe& m, bool& slots_are_positions) {
  const auto layer = static_cast<size_t>(m.layer);
  if (layer_keys_.size() <= layer) layer_keys_.resize(layer + 1);
  LayerKeys& keys = layer_keys_[layer];
  // Positions below `sent` went with earlier captures; none after a reset (or before the layer's first probe).
  const int64_t sent = m.step == keys.last_step + 1 ? keys.next_position : 0;
  const auto n_k = static_cast<size_t>(m.n_k);
  const bool positioned = !m.key_positions.empty(), resident_given = !m.key_resident.empty();
  auto where = [&] { return "softmax probe of layer " + std::to_string(m.layer) + ", step " + std::to_string(m.step); };
  if ((positioned && m.key_positions.size() != n_k) || (resident_given && m.key_resident.size() != n_k))
    throw Error(where() + ": " + std::to_string(m.key_positions.size()) + " key positions and " +
                std::to_string(m.key_resident.size()) + " residency flags for " + std::to_string(m.n_k) + " slots");
  auto position = [&](size_t j) { return positioned ? m.key_positions[j] : static_cast<int64_t>(j); };
  auto resident = [&](size_t j) { return !resident_given || m.key_resident[j] != 0; };

  int64_t first = INT64_MAX, last = -1, count = 0;
  slots_are_positions = true;
  for (size_t j = 0; j < n_k; ++j) {
    const int64_t p = position(j);
    const bool here = resident(j);
    slots_are_positions = slots_are_positions && here && p == static_cast<int64_t>(j);
    if (!here || p < sent) continue;
    first = std::min(first, p), last = std::max(last, p), ++count;
  }
  keys.last_step = m.step;
  keys.next_position = sent;
  new_key_slots_.assign(static_cast<size_t>(count), -1);
  if (count == 0) return sent;
  // The session stores a capture's new keys as one run of positions: a gap or a position held by
  // two slots would put keys at positions that are not theirs.
  auto not_contiguous = [&] {
    return Error(where() + ": its " + std::to_string(count) + " new keys hold positions " + std::to_string(first) + " .. " +
                 std::to_string(last) + ", not that many distinct contiguous positions; the session stores a step's new " +
                 "keys by position, one run of them");
  };
  if (last - first + 1 != count) throw not_contiguous();
  if (slots_are_positions) {  // nothing evicted: the new keys are the last slots
    for (int64_t i = 0; i < count; ++i) new_key_slots_[static_cast<size_t>(i)] = first + i;
  } else {
    for (size_t j = 0; j < n_k; ++j) {
      const int64_t p = position(j);
      if (!resident(j) || p < sent) continue;
      int64_t& slot = new_key_slots_[static_cast<size_t>(p - first)];
      if (slot >= 0) throw not_contiguous();
      slot = static_cast<int64_t>(j);
    }
  }
  keys.next_position = last + 1;
  return first;
}

// The session's attention records hold tokens by their positions in the sequence. A segmented
// model's probe (rows with roles: memory slots beside the tokens, positions within the segment) is
// cut down to its token rows and token keys at their sequence positions, under the mask
// "segments" (causal within a segment: keys of earlier segments are not the layer's any more). Its
// lse stays the engine's, so each token row keeps the probabilities the engine computed and lacks
// what went to the memory slots. The kernel's row statistics and pooled cells span every slot, so
// they are left out (the recorder computes the metrics from the factors).
const rt::MixerProbe& ProbeRecorder::tokens_of(const rt::MixerProbe& m) {
  if (m.query_roles.empty() && m.key_roles.empty()) return m;
  auto where = [&] { return "softmax probe of layer " + std::to_string(m.layer) + ", step " + std::to_string(m.step); };
  if (segment_length_ <= 0) throw Error(where() + " has memory rows, but the recording was not told the segment length");
  // The token rows and token keys: one run of each (read rows, tokens, write rows).
  auto token_run = [&](std::span<const uint8_t> roles, int64_t n, const char* what) {
    int64_t first = -1, count = 0;
    for (int64_t i = 0; i < n; ++i) {
      const bool token = roles.empty() || roles[static_cast<size_t>(i)] == rt::kRowToken;
      if (!token) continue;
      if (first < 0) first = i;
      if (i != first + count) throw Error(where() + ": its token " + what + " are not one run");
      ++count;
    }
    return std::pair<int64_t, int64_t>{std::max<int64_t>(first, 0), count};
  };
  const auto [row0, n_rows] = token_run(m.query_roles, m.n_q, "rows");
  const auto [slot0, n_slots] = token_run(m.key_roles, m.n_k, "keys");
  const rt::FactorSpan* q = m.factor("q");
  const rt::FactorSpan* k = m.factor("k");
  const rt::FactorSpan* lse = m.factor("lse");
  if (!q || !k || !lse || n_rows == 0) throw Error(where() + " lacks q, k, lse or token rows");
  auto id = [](std::span<const int32_t> ids, std::span<const int64_t> positions, int64_t i) {
    return ids.empty() ? positions[static_cast<size_t>(i)] : int64_t{ids[static_cast<size_t>(i)]};
  };
  token_query_positions_.resize(static_cast<size_t>(n_rows));
  for (int64_t i = 0; i < n_rows; ++i) token_query_positions_[static_cast<size_t>(i)] = id(m.query_ids, m.query_positions, row0 + i);
  token_key_positions_.resize(static_cast<size_t>(n_slots));
  for (int64_t j = 0; j < n_slots; ++j) token_key_positions_[static_cast<size_t>(j)] = id(m.key_ids, m.key_positions, slot0 + j);
  token_lse_.resize(static_cast<size_t>(lse->heads * n_rows));
  for (int64_t h = 0; h < lse->heads; ++h)
    for (int64_t i = 0; i < n_rows; ++i) token_lse_[static_cast<size_t>(h * n_rows + i)] = *lse->at(h, row0 + i);
  token_factors_[0] = *q, token_factors_[1] = *k, token_factors_[2] = *lse;
  token_factors_[0].data = q->at(0, row0), token_factors_[0].rows = n_rows;
  token_factors_[1].data = k->at(0, slot0), token_factors_[1].rows = n_slots;
  token_factors_[2].data = token_lse_.data(), token_factors_[2].rows = n_rows, token_factors_[2].head_stride = n_rows;

  token_probe_ = m;
  token_probe_.n_q = n_rows, token_probe_.n_k = n_slots;
  token_probe_.q_pos0 = token_query_positions_.front();
  token_probe_.query_positions = token_query_positions_;
  token_probe_.key_positions = token_key_positions_;
  token_probe_.key_resident = m.key_resident.empty() ? m.key_resident : m.key_resident.subspan(static_cast<size_t>(slot0), static_cast<size_t>(n_slots));
  token_probe_.query_roles = {}, token_probe_.key_roles = {}, token_probe_.query_ids = {}, token_probe_.key_ids = {};
  token_probe_.mask = Mask{MaskPattern::Segments, segment_length_};
  token_probe_.factors = token_factors_;
  token_probe_.row_stats = {};
  token_probe_.pooled = {};
  return token_probe_;
}

// The memory rows' own factors of a segmented model's softmax probe: the queries and lse of this
// step's memory rows ("memory_q" [heads][m][d], "memory_lse" [heads][m][1]) and their keys
// ("memory_k" [kv_heads][m][d]), each row at its position within the segment (read slots 0 .. M-1,
// write slots M+S ..). With the token rows' factors, which the session holds by sequence position,
// they give every score between tokens and memory slots (SessionReader::segment_attention).
void ProbeRecorder::record_memory_rows(const rt::MixerProbe& m) {
  const rt::FactorSpan* q = m.factor("q");
  const rt::FactorSpan* k = m.factor("k");
  const rt::FactorSpan* lse = m.factor("lse");
  std::vector<int64_t> rows, slots;
  for (int64_t i = 0; i < m.n_q; ++i)
    if (m.query_roles[static_cast<size_t>(i)] != rt::kRowToken) rows.push_back(i);
  // This step's memory keys: the slots its memory rows filled (the last n_q slots).
  for (int64_t j = m.n_k - m.n_q; j < m.n_k; ++j)
    if (!m.key_roles.empty() && m.key_roles[static_cast<size_t>(j)] != rt::kRowToken) slots.push_back(j);
  if (rows.empty()) return;
  auto record = [&](const char* name, const rt::FactorSpan& f, const std::vector<int64_t>& which,
                    std::span<const int64_t> positions) {
    profiler::MixerFactorRecord r;
    r.layer = m.layer, r.step = m.step, r.factor = name;
    r.n_heads = static_cast<int32_t>(f.heads), r.n = static_cast<int64_t>(which.size()), r.width = static_cast<int32_t>(f.cols);
    for (int64_t i : which) r.positions.push_back(positions[static_cast<size_t>(i)]);
    r.pos0 = r.positions.front();
    std::vector<float> data;
    data.reserve(static_cast<size_t>(f.heads * r.n * f.cols));
    for (int64_t h = 0; h < f.heads; ++h)
      for (int64_t i : which) data.insert(data.end(), f.at(h, i), f.at(h, i) + f.cols);
    r.data = std::move(data);
    step_records_.push_back(std::move(r));
  };
  record("memory_q", *q, rows, m.query_positions);
  record("memory_lse", *lse, rows, m.query_positions);
  record("memory_k", *k, slots, m.key_positions);
}

void ProbeRecorder::on_mixer(const rt::MixerProbe& probe) {
  if (!probe.is_softmax()) {
    if (captures_.attention) record_recurrent_mixer(probe);
    return;
  }
  if (captures_.attention && !probe.query_roles.empty()) record_memory_rows(probe);
  const rt::MixerProbe& m = tokens_of(probe);
  const SoftmaxFactors a = softmax_factors(m);
  bool slots_are_positions = true;
  profiler::AttentionCapture c;
  c.k_pos0 = new_keys(m, slots_are_positions);
  const auto n_new = static_cast<int64_t>(new_key_slots_.size());
  // The capture's keys are positions 0 .. n_k-1 (those of earlier captures, then the new ones):
  // the engine's slot count while nothing was evicted.
  c.step = a.step, c.layer = a.layer, c.q_pos0 = a.q_pos0, c.n_q = a.n_q, c.n_k = c.k_pos0 + n_new;
  c.n_heads = a.n_heads, c.n_kv_heads = a.n_kv_heads, c.head_dim = a.head_dim;
  c.mask = a.mask.pattern == MaskPattern::None       ? profiler::AttentionMask::None
           : a.mask.pattern == MaskPattern::Window   ? profiler::AttentionMask::Window
           : a.mask.pattern == MaskPattern::Segments ? profiler::AttentionMask::Segments
                                                     : profiler::AttentionMask::Causal;
  c.window = a.window;
  c.scale = a.scale;
  // Buffers first (the recorder's pool is locked to hand them out), then the copies.
  const size_t nq = static_cast<size_t>(a.n_q * a.n_heads * a.head_dim);
  c.q = recorder_.take_factor_buffer(nq);
  const size_t rows = static_cast<size_t>(a.n_q * a.n_heads);
  c.lse = recorder_.take_float_buffer(rows);
  const bool stats = a.row_stats.entropy && a.row_stats.mean_distance && a.row_stats.sink && a.row_stats.effective_keys;
  if (stats) {
    c.entropy = recorder_.take_float_buffer(rows);
    c.mean_distance = recorder_.take_float_buffer(rows);
    c.sink = recorder_.take_float_buffer(rows);
    c.effective_keys = recorder_.take_float_buffer(rows);
  }
  // The engine pools its map by slot: a map by position only while every slot holds its own position.
  const bool cells_by_position = slots_are_positions && c.n_k == a.n_k;
  const size_t cells = a.pooled.max && a.pooled.sum && cells_by_position
                           ? static_cast<size_t>(a.n_heads * ((a.n_q + 3) / 4) * ((a.n_k + 3) / 4))
                           : 0;
  if (cells) {
    c.pooled_max = recorder_.take_float_buffer(cells);
    c.pooled_sum = recorder_.take_float_buffer(cells);
  }
  c.k = recorder_.take_factor_buffer(static_cast<size_t>(n_new * a.n_kv_heads * a.head_dim));
  // The factors as the session stores them: fp32 as the engine computed them, or fp16.
  float* q32 = std::get_if<std::vector<float>>(&c.q) ? std::get<std::vector<float>>(c.q).data() : nullptr;
  float* k32 = q32 ? std::get<std::vector<float>>(c.k).data() : nullptr;
  uint16_t* q16 = q32 ? nullptr : std::get<std::vector<uint16_t>>(c.q).data();
  uint16_t* k16 = q32 ? nullptr : std::get<std::vector<uint16_t>>(c.k).data();
  auto store = [](const float* from, int64_t d, float* to32, uint16_t* to16, int64_t at) {
    if (to32) std::copy_n(from, d, to32 + at);
    else profiler::f32_to_fp16({from, static_cast<size_t>(d)}, to16 + at);
  };

  // Part `part` of `parts` of every copy: the query rows head-major (as the session stores them:
  // the writer then moves the buffer instead of reordering it), the new keys (gathered from their
  // slots into position order), the statistics and the pooled cells.
  auto copy_part = [&](int part, int parts) {
    auto range = [&](int64_t n) { return std::pair<int64_t, int64_t>{n * part / parts, n * (part + 1) / parts}; };
    const int64_t d = a.head_dim;
    const auto [q0, q1] = range(a.n_heads * a.n_q);
    for (int64_t r = q0; r < q1; ++r) {
      const int64_t h = r / a.n_q, i = r % a.n_q;
      store(a.q + (i * a.n_heads + h) * d, d, q32, q16, r * d);
    }
    const auto [k0, k1] = range(a.n_kv_heads * n_new);
    for (int64_t r = k0; r < k1; ++r) {
      const int64_t g = r / n_new, slot = new_key_slots_[static_cast<size_t>(r % n_new)];
      store(a.k + g * a.kv_head_stride + slot * d, d, k32, k16, r * d);
    }
    auto copy = [&](const float* from, std::vector<float>& to) {
      const auto [b, e] = range(static_cast<int64_t>(to.size()));
      std::copy(from + b, from + e, to.begin() + b);
    };
    copy(a.lse, c.lse);
    if (stats) {
      copy(a.row_stats.entropy, c.entropy);
      copy(a.row_stats.mean_distance, c.mean_distance);
      copy(a.row_stats.sink, c.sink);
      copy(a.row_stats.effective_keys, c.effective_keys);
    }
    if (cells) {
      copy(a.pooled.max, c.pooled_max);
      copy(a.pooled.sum, c.pooled_sum);
    }
  };
  // A prefill's layer is ~0.5 ms of copying at 540 tokens (SmolLM2), all of it while the engine
  // waits, so it runs on the engine's threads; a decode step's few rows are not worth a run.
  constexpr size_t kValuesWorthARun = size_t{1} << 15;
  if (pool_ && pool_->size() > 1 && nq + cells >= kValuesWorthARun) pool_->run(copy_part);
  else copy_part(0, 1);

  // Big captures (a prefill's layers) go at once, so a long prompt never holds them all.
  constexpr int64_t kBatchedCaptureBytes = 256 << 10;
  if (profiler::Recorder::capture_size(c) <= kBatchedCaptureBytes) {
    step_captures_.push_back(std::move(c));
    return;
  }
  recorder_.submit(std::exchange(step_captures_, {}));
  recorder_.submit(std::move(c));
}

void ProbeRecorder::on_kv(const rt::KvProbe& k) {
  kv_bytes_ += static_cast<int64_t>(k.bytes_used);
  step_records_.push_back(profiler::KvRecord{k.step, k.layer, k.n_resident, k.capacity, static_cast<int64_t>(k.bytes_used),
                                      static_cast<int64_t>(k.bytes_reserved), k.resident_ranges});
}

// A segmented model's memory rows: one snapshot per memory mem_s, under the segment s that reads
// it; fp16 rows, fp32 norms. RMT's memory (published outside the blocks) goes under the last layer
// (it is the last block's output after the final norm, and the Memory view shows a layer's
// snapshots): mem_0, the learned memory, when segment 0 reads it, mem_{s+1} when segment s writes
// it, so the memory the last complete segment leaves is kept too. ARMT's (published inside block
// l) is what each memory row wrote into layer l's associative memory, under layer l and the
// segment that reads it first.
void ProbeRecorder::on_memory(const rt::MemoryProbe& m) {
  const bool first = m.role == rt::kRowMemoryRead && m.segment == 0;
  if (!first && m.role != rt::kRowMemoryWrite) return;
  profiler::MemorySnapshotRecord r;
  r.step = m.step;
  r.layer = m.layer >= 0 ? m.layer : layers_.empty() ? 0 : static_cast<int32_t>(layers_.size()) - 1;
  r.segment = first ? 0 : m.segment + 1;
  r.kind = "memory_tokens";
  r.rows = m.n_slots, r.cols = m.d;
  r.data.resize(static_cast<size_t>(m.n_slots * m.d));
  r.norms.resize(static_cast<size_t>(m.n_slots));
  for (int64_t i = 0; i < m.n_slots; ++i) {
    double ss = 0;
    for (int64_t c = 0; c < m.d; ++c) {
      const float v = m.x[i * m.d + c];
      r.data[static_cast<size_t>(i * m.d + c)] = f32_to_fp16(v);
      ss += double{v} * v;
    }
    r.norms[static_cast<size_t>(i)] = static_cast<float>(std::sqrt(ss));
  }
  step_records_.push_back(std::move(r));
}

void ProbeRecorder::on_op(const rt::OpTiming& op) {
  if (op.kind < 0) return;  // no kind: the engine failed to register it and has said so
  // RunInfo names the kinds registered when the run began; before the first op of each kind its
  // name goes too, for kinds registered since (a plugin's, a family's ops: the writer keeps a
  // kind nobody named under a placeholder).
  const auto kind = static_cast<size_t>(op.kind);
  if (op_kinds_named_.size() <= kind) op_kinds_named_.resize(kind + 1, false);
  if (!op_kinds_named_[kind] && op.kind_name && *op.kind_name) {
    step_records_.push_back(profiler::OpKindRecord{op.kind, op.kind_name});
    op_kinds_named_[kind] = true;
  }
  step_records_.push_back(profiler::OpRecord{next_op_id_++, op.step, op.kind, op.layer, op.head, op.thread,
                                             op.start_ns, op.end_ns});
}

}  // namespace mnemo::record

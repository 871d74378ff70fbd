// What a run writes into a session, one struct per internal table (docs/SESSION_FORMAT.md). These
// are the profiler's own types: whoever records (the CLI, the app) converts the engine's probes
// into them, so the session format never depends on the engine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace mnemo::profiler {

// What one layer of a run is (_layer): its token mixer and what it keeps between steps. Kinds,
// memories and mask patterns are names: the session registers mixer kinds as it meets them.
struct LayerRecord {
  int32_t layer = 0;
  std::string mixer = "softmax";   // registered mixer kind
  std::string memory = "kv_cache";  // kv_cache | recurrent_state | memory_tokens | none
  int64_t n_heads = 0, n_kv_heads = 0, key_dim = 0, value_dim = 0;
  int64_t state_rows = 0, state_cols = 0;  // the recurrent state per head; 0 for a KV cache
  std::string mask = "causal";              // softmax: registered mask pattern
  int64_t window = 0;
  double scale = 1.0;
};

struct RunInfo {
  std::string label;
  std::string model_path, model_format, architecture;
  std::string plugin_id, plugin_version;
  std::string model_kind = "decoder";  // or "encoder"
  int64_t n_layers = 0, d_model = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab_size = 0, context_length = 0;
  std::string prompt;
  std::string options_json = "{}", machine_json = "{}";
  std::string captures;  // comma-separated
  std::optional<int64_t> max_bytes;
  std::string wall_start_utc;  // ISO 8601
  int64_t start_ns = 0;
  // The producer's op kinds by name, indexed by OpRecord::kind: the session registers each name
  // (_op_kind) and maps the producer's ids onto its own.
  std::vector<std::string> op_kinds;
  // The model's layers as it describes them, written when the run begins; a layer's first
  // attention capture rewrites its row with what the engine reported (mask, window, scale).
  std::vector<LayerRecord> layers;
};

struct StepRecord {
  int64_t step = 0;
  std::string kind = "prefill";  // prefill | decode | encode
  int64_t pos0 = 0, n_tokens = 0;
  int64_t start_ns = 0, end_ns = 0;
};

struct TokenRecord {
  int64_t position = 0;
  int32_t token_id = 0;
  std::string text;  // the token's bytes (may be part of a UTF-8 character)
  int64_t step = 0;
};

// One answer of a task prompt (the run was recorded on a task example): the token the task
// expects at `position`, and what the model predicted from the logits at position - 1.
struct AnswerRecord {
  int64_t position = 0;
  int32_t expected_token = 0, predicted_token = 0;
  double expected_p = 0, predicted_p = 0;  // softmax probabilities of the two tokens there
  std::string predicted_text;              // the predicted token's bytes (the expected one's are the prompt's)
};
inline int64_t answers_right(const std::vector<AnswerRecord>& answers) {
  int64_t right = 0;
  for (const AnswerRecord& a : answers) right += a.predicted_token == a.expected_token;
  return right;
}

// Segments: causal within segments of `window` positions (a segmented model's tokens).
enum class AttentionMask { None, Causal, Window, Segments };
const char* mask_name(AttentionMask m);
AttentionMask parse_mask(const std::string& name);  // throws Error for an unknown name

// The precision mixer factors are stored in: fp32 by default (recomputed scores equal the
// engine's), fp16 on request (half the bytes; docs/SESSION_FORMAT.md states its error).
enum class FactorDtype { F32, F16 };
const char* dtype_name(FactorDtype d);
FactorDtype parse_dtype(const std::string& name);  // throws Error for an unknown name

// A factor's values: fp32 or fp16 bits, as its dtype says.
using FactorData = std::variant<std::vector<float>, std::vector<uint16_t>>;
inline FactorDtype dtype_of(const FactorData& d) { return d.index() == 0 ? FactorDtype::F32 : FactorDtype::F16; }
inline size_t value_count(const FactorData& d) { return std::visit([](const auto& v) { return v.size(); }, d); }

// One named factor of one layer at one step (_mixer_factor), every head: [n_heads][n][width].
// Row r of each head is the row at position pos0 + r, or positions[r] when positions is not empty
// (keys have identity: a slot holds the position it was computed for).
struct MixerFactorRecord {
  int32_t layer = 0;
  int64_t step = 0;
  std::string factor;  // softmax: "q", "k", "lse"
  int32_t n_heads = 0;
  int64_t n = 0;
  int32_t width = 0;
  int64_t pos0 = 0;
  std::vector<int64_t> positions;
  int64_t n_keys = 0;  // query-side factors: keys resident when the rows ran; key side: 0
  FactorData data;
};

// Recurrent state summaries (_state_stat) and full matrices (_state_matrix).
struct StateStatRecord {
  int32_t layer = 0, head = 0;
  int64_t step = 0;
  double norm = 0, effective_rank = 0;
};

struct StateMatrixRecord {
  int32_t layer = 0, head = 0;
  int64_t step = 0;
  int64_t rows = 0, cols = 0;
  FactorData data;  // [rows][cols]
};

struct HeadMetrics {
  double entropy = 0, mean_distance = 0, sink_mass = 0, sparsity = 0;
};

struct HeadMetricRecord {
  int32_t layer = 0, head = 0;
  int64_t step = 0;
  HeadMetrics m;
};

enum class TileCodec { F16, ZstdF16 };

struct PyramidTileRecord {
  int32_t layer = 0, head = 0, level = 1;
  int64_t step = 0, ty = 0, tx = 0, rows = 0, cols = 0;
  TileCodec codec = TileCodec::ZstdF16;
  std::vector<uint8_t> max, mean;  // encoded [rows][cols] fp16
};

struct KvRecord {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t n_resident = 0, capacity = 0;
  int64_t bytes_used = 0, bytes_reserved = 0;
  std::vector<std::pair<int64_t, int64_t>> ranges;  // [begin, end)
};

struct MemorySnapshotRecord {
  int64_t step = 0;
  int32_t layer = 0;
  int64_t segment = 0;
  std::string kind = "memory_tokens";  // or recurrent_state
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t> data;  // fp16 [rows][cols]
  std::vector<float> norms;    // [rows]
};

struct OpRecord {
  int64_t op_id = 0, step = 0;
  int32_t kind = 0;  // the producer's op kind id, named by RunInfo::op_kinds or an OpKindRecord
  int32_t layer = -1, head = -1, thread = 0;
  int64_t start_ns = 0, end_ns = 0;
};

// The name of the producer's op kind `kind`, for a kind RunInfo::op_kinds does not name (one
// registered after the run began): submitted before the first op of the kind, the session
// registers the name in _op_kind and stores the kind's ops under it.
struct OpKindRecord {
  int32_t kind = 0;
  std::string name;
};

struct KernelRecord {
  int64_t kernel_id = 0;
  int32_t device = 0;
  int64_t stream = 0;
  std::string name;
  int64_t start_ns = 0, end_ns = 0;
  int64_t correlation_id = 0;
  std::optional<int64_t> op_id;
};

struct CounterRecord {
  std::string name;
  int64_t t_ns = 0;
  double value = 0;
};

using Record = std::variant<StepRecord, TokenRecord, LayerRecord, MixerFactorRecord, HeadMetricRecord, PyramidTileRecord,
                            KvRecord, MemorySnapshotRecord, StateStatRecord, StateMatrixRecord, OpRecord, OpKindRecord,
                            KernelRecord, CounterRecord, AnswerRecord>;

// Bytes a record adds to the file, roughly (payload plus a per-row overhead); the byte budget
// and the progress line use it.
template <class T>
int64_t approx_bytes(const T& x) {
  constexpr int64_t kRow = 24;  // key columns and cell headers of one row
  auto n = [](const auto& v) { return static_cast<int64_t>(v.size() * sizeof(v[0])); };
  if constexpr (std::is_same_v<T, Record>) return std::visit([](const auto& r) { return approx_bytes(r); }, x);
  else if constexpr (std::is_same_v<T, MixerFactorRecord>)
    return kRow + 64 + n(x.positions) + static_cast<int64_t>(x.n_heads) * 4 +
           std::visit([&](const auto& v) { return n(v); }, x.data);
  else if constexpr (std::is_same_v<T, StateMatrixRecord>) return kRow + 48 + std::visit([&](const auto& v) { return n(v); }, x.data);
  else if constexpr (std::is_same_v<T, PyramidTileRecord>) return kRow + 64 + n(x.max) + n(x.mean);
  else if constexpr (std::is_same_v<T, KvRecord>) return kRow + 48 + n(x.ranges);
  else if constexpr (std::is_same_v<T, MemorySnapshotRecord>) return kRow + 48 + n(x.data) + n(x.norms);
  else if constexpr (std::is_same_v<T, TokenRecord>) return kRow + 16 + n(x.text);
  else if constexpr (std::is_same_v<T, KernelRecord>) return kRow + 56 + n(x.name);
  else if constexpr (std::is_same_v<T, CounterRecord>) return kRow + 16 + n(x.name);
  else if constexpr (std::is_same_v<T, OpKindRecord>) return kRow + 8 + n(x.name);
  else return kRow + 40;
}

}  // namespace mnemo::profiler

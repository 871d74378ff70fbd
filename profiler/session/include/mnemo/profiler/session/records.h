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

enum class AttentionMask { None, Causal, Window };
const char* mask_name(AttentionMask m);
AttentionMask parse_mask(const std::string& name);  // throws Error for an unknown name

// One head's query factors at one step: rows q_pos0 .. q_pos0+n_q-1 see keys 0 .. n_k-1 under the mask.
struct AttentionQueryRecord {
  int32_t layer = 0, n_heads = 0, n_kv_heads = 0;
  int64_t step = 0, q_pos0 = 0, n_q = 0, n_k = 0;
  AttentionMask mask = AttentionMask::Causal;
  int64_t window = 0;
  float scale = 1.f;
  std::vector<uint16_t> q;  // fp16 [n_heads][n_q][head_dim], post-RoPE
  std::vector<float> lse;   // [n_heads][n_q]
};

// Keys appended to one layer's cache at one step, every KV head: positions pos0 .. pos0+n-1.
struct AttentionKeyRecord {
  int32_t layer = 0, n_kv_heads = 0;
  int64_t step = 0, pos0 = 0, n = 0;
  std::vector<uint16_t> k;  // fp16 [n_kv_heads][n][head_dim]
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
  int32_t kind = 0;  // _op_kind.kind
  int32_t layer = -1, head = -1, thread = 0;
  int64_t start_ns = 0, end_ns = 0;
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

using Record = std::variant<StepRecord, TokenRecord, AttentionQueryRecord, AttentionKeyRecord, HeadMetricRecord,
                            PyramidTileRecord, KvRecord, MemorySnapshotRecord, OpRecord, KernelRecord, CounterRecord>;

// Bytes a record adds to the file, roughly (payload plus a per-row overhead); the byte budget
// and the progress line use it.
template <class T>
int64_t approx_bytes(const T& x) {
  constexpr int64_t kRow = 24;  // key columns and cell headers of one row
  auto n = [](const auto& v) { return static_cast<int64_t>(v.size() * sizeof(v[0])); };
  if constexpr (std::is_same_v<T, Record>) return std::visit([](const auto& r) { return approx_bytes(r); }, x);
  else if constexpr (std::is_same_v<T, AttentionQueryRecord>) return kRow + 64 + n(x.q) + n(x.lse);
  else if constexpr (std::is_same_v<T, AttentionKeyRecord>) return kRow + 32 + n(x.k);
  else if constexpr (std::is_same_v<T, PyramidTileRecord>) return kRow + 64 + n(x.max) + n(x.mean);
  else if constexpr (std::is_same_v<T, KvRecord>) return kRow + 48 + n(x.ranges);
  else if constexpr (std::is_same_v<T, MemorySnapshotRecord>) return kRow + 48 + n(x.data) + n(x.norms);
  else if constexpr (std::is_same_v<T, TokenRecord>) return kRow + 16 + n(x.text);
  else if constexpr (std::is_same_v<T, KernelRecord>) return kRow + 56 + n(x.name);
  else if constexpr (std::is_same_v<T, CounterRecord>) return kRow + 16 + n(x.name);
  else return kRow + 40;
}

}  // namespace mnemo::profiler

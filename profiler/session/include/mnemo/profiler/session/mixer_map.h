// How the reader turns what a session holds into one head's map A[i][j] (how much output i draws
// on input j), whatever the layer's token mixer: one MixerMap implementation per mixer kind,
// registered by name. The reader (tiles, pyramids, rows, columns, top-k) and everything above it
// (`mnemo tile`, the views) go through this interface and never know the family; they show the
// map's label ("softmax probabilities", "implicit attention, exact", ...).
//
// A kind whose heads mix per channel (Mamba-1: every channel has its own decay) declares how many
// channels a head has (MixerMapKind::channels_per_head); the head's map is then its default view (a
// mean over the channels, say, labelled so) and each channel's own map is asked for by
// MixerMapInput::channel. The reader, `mnemo tile --channel` and the explorer's channel selector
// offer channels wherever a kind declares them, never by family.
//
// Built in: `softmax` (exp(q·k·scale − lse), recomputed from the recorded factors) and `stored`
// (level-0 tiles stored as they are, for a mixer whose map is recorded rather than recomputed).
// Adding a kind (profiler/session/implicit_attention.*: diagonal decay, delta rule, SSM): write a
// MixerMap over the factors the family records, and register it in register_builtin_mixer_maps()
// (mixer_map.cpp), the one list of kinds; the reader does not change.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/profiler/session/records.h"

namespace mnemo::profiler {

class Db;

// One layer of a run as _layer describes it, names resolved.
struct MixerLayer {
  std::string mixer, memory;
  int32_t n_heads = 0, n_kv_heads = 0, key_dim = 0, value_dim = 0;
  int64_t state_rows = 0, state_cols = 0;
  std::string mask = "causal";
  int64_t window = 0;
  float scale = 1.f;  // float: the engine computes with it so
  int32_t kv_group() const { return n_kv_heads > 0 ? n_heads / n_kv_heads : 1; }
};

// One recorded factor row of a layer at a step (_mixer_factor), metadata only.
struct FactorBlock {
  int64_t step = 0;
  std::string factor;
  int32_t n_heads = 0, width = 0;
  int64_t n = 0;                   // rows per head slice
  FactorDtype dtype = FactorDtype::F32;
  std::vector<int64_t> positions;  // of each row (pos0 + r unless the row recorded them)
  int64_t n_keys = 0;              // query side: keys resident when the rows ran
  bool has_crc = false;
  std::vector<uint32_t> crc32;     // per head slice (v1 sessions have none)
  std::string blob_table, blob_column;
  int64_t blob_rowid = 0;
};

// Reads recorded factors for MixerMaps: what there is, and one head slice's values.
class FactorSource {
 public:
  virtual ~FactorSource() = default;
  // Blocks of factor `name` of (run, layer) at steps <= newest_step that hold head slice `slice`,
  // in step order.
  virtual std::vector<FactorBlock> blocks(const std::string& name, int32_t slice) = 0;
  // Slice `slice` of a block as fp32 [n][width] (fp16 widened), its checksum verified: throws
  // Error naming the run, layer, head (or KV head), step, factor and column when it is damaged.
  virtual void read(const FactorBlock& block, int32_t slice, std::vector<float>& out) = 0;
};

// What a MixerMap is made for: one head of one layer of one run, over the steps committed up to
// newest_step. Rows [row_begin, row_end) are those the caller will ask for (a map may load only
// those); `what` names the head for errors (the file, run, layer and head).
struct MixerMapInput {
  const Db& db;  // for kinds that read more than factors (stored tiles)
  FactorSource& factors;
  const MixerLayer& layer;
  int64_t run = 0;
  int32_t layer_index = 0, head = 0;
  int64_t newest_step = -1;
  int64_t row_begin = 0, row_end = std::numeric_limits<int64_t>::max();
  std::string what;
  // One channel's map, 0-based within the head (< the kind's channels_per_head, which the reader
  // checks before make() is called); −1 for the head's own map, the kind's default view.
  int64_t channel = -1;
};

class MixerMap {
 public:
  virtual ~MixerMap() = default;
  // A[i][j] for map rows (query positions) [r0, r0 + nr) and keys [c0, c1) into out, row-major
  // [nr][c1 − c0]; cells no row could see, and keys never recorded, are 0. Throws Error naming a
  // row that has no recorded data.
  virtual void block(int64_t r0, int64_t nr, int64_t c0, int64_t c1, float* out) = 0;
  // Row `pos` over keys [0, keys seen by that row).
  virtual std::vector<float> row(int64_t pos) = 0;
};

struct MixerMapKind {
  std::string label;       // what a head's map's values are, shown by the views and `mnemo tile`
  std::string row_factor;  // the factor whose rows are the map's rows ("" when the kind has none: stored)
  std::function<std::unique_ptr<MixerMap>(const MixerMapInput&)> make;
  // Channels a head of `layer` has, each with its own map (null or 0: a head's map is all there is).
  std::function<int64_t(const MixerLayer&)> channels_per_head = nullptr;
  // What one channel's map is, before "channel c of head h" ("implicit attention, exact").
  std::string channel_label = {};
};

// Channels a head of `layer` offers under `kind` (0 when the kind declares none).
int64_t channels_per_head(const MixerMapKind& kind, const MixerLayer& layer);
// What a map's values are: the kind's label for a head's map (channel −1), else
// "<channel_label>, channel c of head h".
std::string map_label(const MixerMapKind& kind, int32_t head, int64_t channel);

class MixerMapRegistry {
 public:
  static MixerMapRegistry& instance();  // holds the built-in kinds
  void add(const std::string& mixer, MixerMapKind kind);
  const MixerMapKind* find(const std::string& mixer) const;  // null when no implementation is registered

 private:
  std::map<std::string, MixerMapKind> kinds_;
};

// The built-in kinds; the one place a new family's map is listed.
void register_builtin_mixer_maps(MixerMapRegistry& registry);
void register_softmax_map(MixerMapRegistry& registry);
void register_stored_map(MixerMapRegistry& registry);
// The recurrent families' implicit attention (recurrent_map.cpp).
void register_recurrent_maps(MixerMapRegistry& registry);

}  // namespace mnemo::profiler

// From engine probes to session records: the ProbeSink that the CLI and the app subscribe while
// recording, and the capture list users choose from (--capture).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/core/thread_pool.h"
#include "mnemo/profiler/session/recorder.h"
#include "mnemo/record/state_stats.h"
#include "mnemo/runtime/probes.h"

namespace mnemo::record {

struct Captures {
  bool attention = true;  // q/k/lse factors: exact tiles at every zoom
  bool metrics = true;    // per-head entropy, distance, sink mass, sparsity
  bool pyramids = true;   // pooled overview levels
  bool kv = true;         // KV cache occupancy per step and layer
  bool ops = true;        // CPU op timings
  bool memory = true;     // memory tokens / recurrent state summaries (_state_stat), for architectures that keep them
  // Full recurrent state matrices every step (_state_matrix): heads × key_dim × value_dim floats per
  // layer and step, so only on request ("states"; "all" leaves it off).
  bool states = false;

  // "all", "none", or a comma-separated subset of attention,metrics,pyramids,kv,ops,memory,states.
  // Throws UsageError naming an unknown entry.
  static Captures parse(const std::string& list);
  std::string to_string() const;  // the canonical comma-separated list
  bool any_attention() const { return attention || metrics || pyramids; }
};

// Converts probes into records and hands them to the recorder. Probe callbacks copy what they
// need (attention factors in the recording's dtype, fp32 by default) and return; the recorder's
// thread does the rest.
class ProbeRecorder : public rt::ProbeSink {
 public:
  // pool: the engine's, on whose threads a prefill's captures are converted (the engine waits for
  // the conversion either way); null converts on the calling thread.
  ProbeRecorder(profiler::Recorder& recorder, const Captures& captures, ThreadPool* pool = nullptr);

  bool wants_mixer() const override { return captures_.any_attention() && !recorder_.failed(); }
  bool wants_kv() const override { return captures_.kv && !recorder_.failed(); }
  bool wants_state() const override { return (captures_.memory || captures_.states) && !recorder_.failed(); }
  bool wants_op_timings() const override { return captures_.ops && !recorder_.failed(); }
  bool wants_memory() const override { return captures_.memory && !recorder_.failed(); }
  bool wants_attention_stats() const override { return captures_.metrics; }
  bool wants_pooled_attention(int64_t q_pos0, int64_t n_q, int64_t n_k) const override {
    return recorder_.wants_pooled_cells(q_pos0, n_q, n_k);
  }

  void on_step_end(const rt::StepProbe& s) override;
  // Softmax layers become attention captures; the recurrent mixers' named factors become
  // _mixer_factor rows as they are (the reader recomputes their implicit attention). A softmax
  // capture carries the keys no earlier capture of the layer carried, by position (see
  // new_keys); throws mnemo::Error, naming the layer and step, when they are not contiguous.
  void on_mixer(const rt::MixerProbe& m) override;
  // Per head: Frobenius norm and effective rank (_state_stat); the matrices with `states`.
  void on_state(const rt::StateProbe& s) override;
  void on_kv(const rt::KvProbe& k) override;
  // A segmented model's memory rows (_memory_snapshot, kind memory_tokens, the last layer).
  void on_memory(const rt::MemoryProbe& m) override;
  // Every op, of any kind, by the kind's name: the first op of each kind in the run is preceded by
  // an OpKindRecord, so a kind registered after the run began is stored by name too.
  void on_op(const rt::OpTiming& op) override;

  // Hands the recorder what the running step gathered so far (a step that failed midway).
  void flush();

  // Set by whoever runs the model: the kind of the steps that follow (decode after the prefill).
  void set_encoder(bool encoder) { encoder_ = encoder; }
  // The run's layers as written when it began: a recurrent layer's row is rewritten with the
  // scale its first probe reports (the descriptor need not carry the q·k scale the kernel used).
  void set_layers(std::vector<profiler::LayerRecord> layers) { layers_ = std::move(layers); }
  // A segmented model's segment length (rt::Model::segment_length()): its tokens are recorded
  // under the mask "segments" of that length.
  void set_segment_length(int64_t tokens) { segment_length_ = tokens; }
  int64_t kv_bytes() const { return kv_bytes_; }

 private:
  void record_recurrent_mixer(const rt::MixerProbe& m);
  // m itself, or for a probe with memory rows its token rows and keys (see capture.cpp).
  const rt::MixerProbe& tokens_of(const rt::MixerProbe& m);
  // A probe with memory rows: their queries, lse and keys as factor rows of their own.
  void record_memory_rows(const rt::MixerProbe& m);
  // The keys of a softmax probe that no earlier capture of its layer carried: fills
  // new_key_slots_ with their slots in position order and returns the first one's position.
  // slots_are_positions: whether slot j holds position j for every slot (nothing evicted or moved).
  int64_t new_keys(const rt::MixerProbe& m, bool& slots_are_positions);

  // Per softmax layer: what the captures so far carried.
  struct LayerKeys {
    int64_t next_position = 0;  // keys at positions below it were handed to the recorder
    int64_t last_step = -1;     // the step of the layer's last probe
  };

  profiler::Recorder& recorder_;
  Captures captures_;
  ThreadPool* pool_;
  bool encoder_ = false;
  int64_t next_op_id_ = 0;
  int64_t kv_bytes_ = 0;
  std::vector<profiler::LayerRecord> layers_;
  std::vector<bool> layer_described_;  // per layer: its row was rewritten from a probe
  std::vector<NormAndRank> stats_;                // per head of the state being recorded
  std::vector<std::vector<float>> stat_scratch_;  // per part of the engine's pool
  std::vector<LayerKeys> layer_keys_;
  std::vector<int64_t> new_key_slots_;  // new_keys(): the slot of each new key, by position
  int64_t segment_length_ = 0;
  // tokens_of()'s probe and what its spans point at.
  rt::MixerProbe token_probe_;
  rt::FactorSpan token_factors_[3];
  std::vector<int64_t> token_query_positions_, token_key_positions_;
  std::vector<float> token_lse_;
  std::vector<bool> op_kinds_named_;    // per op kind id: its OpKindRecord was submitted
  std::vector<profiler::Record> step_records_;  // op timings and KV rows of the running step
  // Small attention captures of the running step (a decode step's layers): one queue item per
  // step instead of one lock and one writer wake-up per layer.
  std::vector<profiler::AttentionCapture> step_captures_;
};

}  // namespace mnemo::record

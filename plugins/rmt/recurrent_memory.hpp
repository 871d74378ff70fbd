// The Recurrent Memory Transformer (Bulatov, Kuratov and Burtsev, NeurIPS 2022), as the
// authors' MemoryCell runs it over a Hugging Face GPT-2 or Llama: the input is cut into segments
// of S tokens; segment s runs the backbone over [mem_s | its tokens | mem_s] at positions
// 0 .. 2M+S-1 (M memory rows; GPT-2 adds its learned positions to the memory rows too, Llama
// rotates them), causally, with attention confined to the segment; the final hidden states of
// the last M rows (after the final norm) are mem_{s+1}. mem_0 is the learned `memory` tensor.
// A segment's last piece appends the write rows; a partial segment has none.
#pragma once

#include <memory>

#include "model_def.hpp"

namespace rmt {

struct Settings {
  int32_t memory_tokens = 0;  // M
  int32_t segment_size = 0;   // S, tokens per segment
  int64_t max_tokens = 0;     // the longest sequence the model accepts (its context)
};

std::unique_ptr<mnemo::sdk::Model> make_recurrent_memory(const transformer::Host& host, transformer::ModelDef backbone,
                                                         const Settings& settings);

}  // namespace rmt

// GGUF v2/v3 reader (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): header,
// metadata, tensor infos, alignment; tensor data memory-mapped and used in place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "mnemo/io/model_file.h"

namespace mnemo::io {

struct GgufLimits {
  uint64_t max_tensors = 1u << 20;
  uint64_t max_kv = 1u << 20;
  uint64_t max_string_bytes = 1u << 26;   // one metadata string
  uint64_t max_array_elems = 1u << 26;    // one metadata array
  uint64_t max_metadata_bytes = 1u << 30; // all metadata, as parsed in memory
};

// Parses a GGUF image already in memory (used by the fuzzer and by open_gguf). `path` only names
// the file in errors. Tensor views point into `data`, which must outlive the result.
struct GgufImage {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;
  nlohmann::json metadata;
  std::vector<TensorEntry> tensors;
};
GgufImage parse_gguf(const std::byte* data, uint64_t size, const std::string& path,
                     const GgufLimits& limits = {});

std::unique_ptr<ModelFile> open_gguf(const std::string& path);

}  // namespace mnemo::io

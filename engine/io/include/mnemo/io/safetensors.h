// Hugging Face safetensors (https://huggingface.co/docs/safetensors): an 8-byte header length, a
// JSON header of tensor names, dtypes, shapes and data offsets, then the raw data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mnemo/io/model_file.h"

namespace mnemo::io {

constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;  // the limit the reference uses

struct SafetensorsImage {
  std::vector<TensorEntry> tensors;    // ordered by name
  std::vector<SkippedTensor> skipped;  // valid entries of types without a DType
};
// Parses a safetensors image already in memory, keeping entries of unsupported types aside.
SafetensorsImage parse_safetensors_image(const std::byte* data, uint64_t size,
                                         const std::string& path);

// Parses a safetensors image already in memory. `path` names the file in errors and in each
// entry's `file`. Views point into `data`.
std::vector<TensorEntry> parse_safetensors(const std::byte* data, uint64_t size,
                                           const std::string& path);

// Opens a Hugging Face model folder: config.json, and model.safetensors or the shards listed in
// model.safetensors.index.json.
std::unique_ptr<ModelFile> open_hf_folder(const std::string& dir);

// Opens one .safetensors file with the config.json of the folder it is in.
std::unique_ptr<ModelFile> open_safetensors_file(const std::string& file);

}  // namespace mnemo::io

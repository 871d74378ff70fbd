// A model checkpoint as the engine sees it, whatever its format: metadata (GGUF key-value pairs,
// or a Hugging Face config.json) and named weight tensors used in place from memory maps.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnemo/core/tensor.h"

namespace mnemo::io {

struct TensorEntry {
  std::string name;
  TensorView view;       // data points into a mapped file
  std::string file;      // the file holding the data (a shard, for sharded checkpoints)
};

// A tensor the file holds in a type the engine has no DType for (safetensors BOOL, U8, U16,
// F8_E4M3, ...). It was bounds-checked like the others but is not in tensors(); loading fails
// only if a model actually asks for it.
struct SkippedTensor {
  std::string name;
  std::string dtype;   // as the file spells it
  std::string file;
};

class ModelFile {
 public:
  virtual ~ModelFile() = default;

  virtual std::string format() const = 0;  // "gguf" or "safetensors"
  // The path the user gave: a GGUF file, or a Hugging Face folder.
  virtual const std::string& path() const = 0;
  // GGUF: every key-value pair, arrays included, keyed as in the file ("llama.block_count").
  // Hugging Face: the parsed config.json.
  virtual const nlohmann::json& metadata() const = 0;
  // GGUF: general.architecture ("llama", "gpt2", "bert"). Hugging Face: config.json's
  // model_type ("llama", "gpt2", "bert"). Empty when the file does not say.
  virtual std::string architecture() const = 0;

  virtual const std::vector<TensorEntry>& tensors() const = 0;
  // Tensors of types the engine cannot represent; empty for GGUF, whose types all map to DType.
  virtual const std::vector<SkippedTensor>& skipped_tensors() const;
  // Null when there is no tensor of that name.
  const TensorEntry* find(const std::string& name) const;
  // Brings every tensor's bytes into memory now (see MappedFile::page_in), for callers about to
  // run the model; listing a file's tensors never needs it. Throws FormatError when the file
  // cannot be read. Files that hold nothing on disk have nothing to do.
  virtual void page_in() const {}
};

// Opens a GGUF file or a Hugging Face folder (config.json + model.safetensors, or sharded
// model-0000x-of-0000y.safetensors with model.safetensors.index.json). Validates every tensor's
// type, shape and extent against the file; throws FormatError naming the file and the problem.
std::unique_ptr<ModelFile> open_model(const std::string& path);

}  // namespace mnemo::io

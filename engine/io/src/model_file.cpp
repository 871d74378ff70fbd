// Format detection: a folder is a Hugging Face checkpoint, a file is told apart by its magic.
#include "mnemo/io/model_file.h"

#include <filesystem>
#include <fstream>

#include "mnemo/core/error.h"
#include "mnemo/io/gguf.h"
#include "mnemo/io/safetensors.h"

namespace mnemo::io {
namespace fs = std::filesystem;

const TensorEntry* ModelFile::find(const std::string& name) const {
  for (const auto& t : tensors())
    if (t.name == name) return &t;
  return nullptr;
}

const std::vector<SkippedTensor>& ModelFile::skipped_tensors() const {
  static const std::vector<SkippedTensor> kNone;
  return kNone;
}

std::unique_ptr<ModelFile> open_model(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw FormatError(path, "no such file or folder");
  if (fs::is_directory(st)) return open_hf_folder(path);
  if (!fs::is_regular_file(st)) throw FormatError(path, "not a regular file or folder");

  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "cannot open");
  in.read(magic, sizeof magic);
  if (in.gcount() == 4 && std::string_view(magic, 4) == "GGUF") return open_gguf(path);

  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") return open_safetensors_file(path);
  if (ext == ".bin" || ext == ".pt" || ext == ".pth")
    throw FormatError(path, "pickled PyTorch checkpoints are not supported; convert the model to safetensors");
  throw FormatError(path, "not a GGUF file or Hugging Face model folder");
}

}  // namespace mnemo::io

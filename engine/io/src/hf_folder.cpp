// Hugging Face model folders: config.json plus model.safetensors, or plus
// model.safetensors.index.json whose weight_map names the shard of every tensor. Shard names come
// from a file we do not trust, so only plain file names inside the folder are accepted.
#include <filesystem>
#include <map>
#include <set>

#include "json_document.h"
#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"
#include "mnemo/io/safetensors.h"
#include "tensor_layout.h"

namespace mnemo::io {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
constexpr uint64_t kMaxIndexBytes = uint64_t{64} << 20;

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);  // follows symlinks, as the Hugging Face cache uses them
}

bool is_plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

nlohmann::json read_config(const fs::path& dir) {
  const fs::path config = dir / "config.json";
  if (!is_file(config))
    throw FormatError(dir.string(), "no config.json: not a Hugging Face model folder");
  nlohmann::json j = parse_json_document(read_text_file(config.string(), kMaxConfigBytes),
                                         config.string(), "config.json");
  if (!j.is_object()) throw FormatError(config.string(), "config.json is not a JSON object");
  return j;
}

class HfModelFile final : public ModelFile {
 public:
  HfModelFile(std::string path, nlohmann::json config) : path_(std::move(path)), config_(std::move(config)) {}

  std::string format() const override { return "safetensors"; }
  const std::string& path() const override { return path_; }
  const nlohmann::json& metadata() const override { return config_; }
  std::string architecture() const override {
    const auto it = config_.find("model_type");
    return it != config_.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  const std::vector<TensorEntry>& tensors() const override { return tensors_; }
  const std::vector<SkippedTensor>& skipped_tensors() const override { return skipped_; }
  void page_in() const override {
    for (const auto& map : maps_) map->page_in();
  }

  // Maps one safetensors file and returns its parsed image; the map lives as long as this.
  SafetensorsImage add_file(const std::string& file) {
    maps_.push_back(std::make_unique<MappedFile>(file));
    return parse_safetensors_image(maps_.back()->data(), maps_.back()->size(), file);
  }
  void add(SafetensorsImage img) {
    for (auto& t : img.tensors) tensors_.push_back(std::move(t));
    for (auto& s : img.skipped) skipped_.push_back(std::move(s));
  }

 private:
  std::string path_;
  nlohmann::json config_;
  std::vector<std::unique_ptr<MappedFile>> maps_;
  std::vector<TensorEntry> tensors_;
  std::vector<SkippedTensor> skipped_;
};

// weight_map: tensor name → shard file name, every shard a plain name of an existing file.
std::map<std::string, std::string> read_weight_map(const fs::path& dir, const std::string& index) {
  const nlohmann::json j = parse_json_document(read_text_file(index, kMaxIndexBytes), index,
                                               "model.safetensors.index.json");
  const auto wm = j.is_object() ? j.find("weight_map") : j.end();
  if (!j.is_object() || wm == j.end() || !wm->is_object())
    throw FormatError(index, "no \"weight_map\" object in the shard index");
  std::map<std::string, std::string> out;
  std::set<std::string> checked;
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string())
      throw FormatError(index, "weight_map entry for '" + printable(name) + "' is not a string");
    const std::string& file = shard.get_ref<const std::string&>();
    if (!is_plain_file_name(file))
      throw FormatError(index, "shard '" + printable(file) + "' for tensor '" + printable(name) +
                                   "' is not a plain file name inside the model folder");
    if (checked.insert(file).second && !is_file(dir / file))
      throw FormatError(index, "shard '" + file + "' (holding tensor '" + printable(name) +
                                   "') does not exist in the model folder");
    out.emplace(name, file);
  }
  return out;
}

void add_shards(HfModelFile& model, const fs::path& dir, const std::string& index) {
  const auto weight_map = read_weight_map(dir, index);
  std::set<std::string> shards;
  for (const auto& [name, shard] : weight_map) shards.insert(shard);
  size_t found = 0;
  for (const auto& shard : shards) {
    SafetensorsImage img = model.add_file((dir / shard).string());
    auto check = [&](const std::string& name) {
      const auto it = weight_map.find(name);
      if (it == weight_map.end())
        throw FormatError(index, "shard '" + shard + "' holds tensor '" + printable(name) +
                                     "', which the index does not list");
      if (it->second != shard)
        throw FormatError(index, "the index puts tensor '" + printable(name) + "' in shard '" +
                                     it->second + "' but it is in '" + shard + "'");
      ++found;
    };
    for (const auto& t : img.tensors) check(t.name);
    for (const auto& s : img.skipped) check(s.name);
    model.add(std::move(img));
  }
  if (found != weight_map.size()) {
    std::set<std::string> present;
    for (const auto& t : model.tensors()) present.insert(t.name);
    for (const auto& s : model.skipped_tensors()) present.insert(s.name);
    for (const auto& [name, shard] : weight_map)
      if (!present.count(name))
        throw FormatError(index, "the index puts tensor '" + printable(name) + "' in shard '" +
                                     shard + "', which does not hold it");
  }
}

}  // namespace

std::unique_ptr<ModelFile> open_hf_folder(const std::string& dir_path) {
  const fs::path dir(dir_path);
  auto model = std::make_unique<HfModelFile>(dir_path, read_config(dir));
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (is_file(single)) {
    model->add(model->add_file(single.string()));
  } else if (is_file(index)) {
    add_shards(*model, dir, index.string());
  } else if (is_file(dir / "pytorch_model.bin") || is_file(dir / "pytorch_model.bin.index.json")) {
    throw FormatError(dir_path, "holds only pytorch_model.bin: pickled PyTorch checkpoints are not "
                                "supported; convert the model to safetensors");
  } else {
    throw FormatError(dir_path, "no model.safetensors or model.safetensors.index.json in the folder");
  }
  return model;
}

std::unique_ptr<ModelFile> open_safetensors_file(const std::string& file) {
  fs::path dir = fs::path(file).parent_path();
  if (dir.empty()) dir = ".";
  auto model = std::make_unique<HfModelFile>(file, read_config(dir));
  model->add(model->add_file(file));
  return model;
}

}  // namespace mnemo::io

// Hugging Face folders and format detection: each case copies the sharded fixture into a fresh
// temporary folder, breaks one thing, and expects open_model to refuse it by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "fixture_images.h"
#include "mnemo/core/error.h"
#include "mnemo/io/model_file.h"

namespace {
namespace fs = std::filesystem;
using namespace mnemo;
using namespace mnemo::io;

constexpr char kIndex[] = "model.safetensors.index.json";
constexpr char kShard1[] = "model-00001-of-00002.safetensors";
constexpr char kShard2[] = "model-00002-of-00002.safetensors";

class IoHfFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mnemo_io_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::copy(io_data_dir() + "/hf_sharded", dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string read(const std::string& name) {
    std::ifstream in(dir_ / name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void replace_in(const std::string& name, const std::string& from, const std::string& to) {
    std::string s = read(name);
    const size_t at = s.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    write(name, s.replace(at, from.size(), to));
  }
  // open_model must throw a FormatError naming `file` (relative to the folder, or the folder
  // itself when empty) and containing `phrase`.
  void expect_refused(const std::string& phrase, const std::string& file = "", std::string open = "") {
    if (open.empty()) open = dir_.string();
    const std::string named = file.empty() ? dir_.string() : (dir_ / file).string();
    try {
      open_model(open);
      ADD_FAILURE() << "accepted; expected " << phrase;
    } catch (const FormatError& e) {
      EXPECT_EQ(e.path(), named) << e.what();
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  }

  fs::path dir_;
};

TEST_F(IoHfFolder, FixtureOpens) {
  const auto m = open_model(dir_.string());
  EXPECT_EQ(m->architecture(), "tinybert");
  EXPECT_EQ(m->path(), dir_.string());
  EXPECT_EQ(m->metadata()["hidden_size"], 8);
}

TEST_F(IoHfFolder, MissingConfig) {
  fs::remove(dir_ / "config.json");
  expect_refused("no config.json");
}

TEST_F(IoHfFolder, ConfigNotAnObject) {
  write("config.json", "[1, 2]");
  expect_refused("config.json is not a JSON object", "config.json");
}

TEST_F(IoHfFolder, ConfigBadJson) {
  write("config.json", "{\"model_type\": ");
  expect_refused("not valid JSON", "config.json");
}

TEST_F(IoHfFolder, ShardMissing) {
  fs::remove(dir_ / kShard2);
  expect_refused("shard 'model-00002-of-00002.safetensors'", kIndex);
}

TEST_F(IoHfFolder, ShardPathTraversal) {
  replace_in(kIndex, std::string("\"") + kShard2, "\"../x");
  expect_refused("shard '../x'", kIndex);
  replace_in(kIndex, "\"../x", "\"sub/x");
  expect_refused("is not a plain file name", kIndex);
}

TEST_F(IoHfFolder, TensorInTheWrongShard) {
  replace_in(kIndex, std::string("\"layer.1.f64\": \"") + kShard2, std::string("\"layer.1.f64\": \"") + kShard1);
  expect_refused("but it is in", kIndex);
}

TEST_F(IoHfFolder, IndexListsAMissingTensor) {
  replace_in(kIndex, "\"weight_map\": {", std::string("\"weight_map\": {\"ghost\": \"") + kShard1 + "\", ");
  expect_refused("the index puts tensor 'ghost' in shard", kIndex);
}

TEST_F(IoHfFolder, ShardHoldsAnUnlistedTensor) {
  replace_in(kIndex, "\"layer.1.i8\": \"model-00002-of-00002.safetensors\",", "");
  expect_refused("which the index does not list", kIndex);
}

TEST_F(IoHfFolder, IndexWithoutWeightMap) {
  write(kIndex, "{\"metadata\": {}}");
  expect_refused("no \"weight_map\"", kIndex);
}

TEST_F(IoHfFolder, PickledCheckpointOnly) {
  for (const char* f : {kIndex, kShard1, kShard2}) fs::remove(dir_ / f);
  write("pytorch_model.bin", "PK");
  expect_refused("pickled PyTorch checkpoints are not supported");
}

TEST_F(IoHfFolder, NoWeightsAtAll) {
  for (const char* f : {kIndex, kShard1, kShard2}) fs::remove(dir_ / f);
  expect_refused("no model.safetensors");
}

TEST_F(IoHfFolder, CorruptShardNamesTheShard) {
  std::string s = read(kShard2);
  write(kShard2, s.substr(0, 40));
  expect_refused("past the end", kShard2);
}

TEST_F(IoHfFolder, SingleFileIsPreferredAndUsed) {
  fs::copy_file(dir_ / kShard1, dir_ / "model.safetensors");
  const auto m = open_model(dir_.string());
  EXPECT_EQ(m->tensors().size(), 4u);
  EXPECT_EQ(m->tensors()[0].file, (dir_ / "model.safetensors").string());
}

TEST_F(IoHfFolder, UnknownFileIsRefusedByName) {
  write("notes.txt", "hello");
  expect_refused("not a GGUF file or Hugging Face model folder", "notes.txt", (dir_ / "notes.txt").string());
  write("weights.bin", "PK");
  expect_refused("pickled PyTorch", "weights.bin", (dir_ / "weights.bin").string());
  expect_refused("no such file", "nothing.gguf", (dir_ / "nothing.gguf").string());
}

TEST_F(IoHfFolder, TruncatedGgufFileIsRefused) {
  write("t.gguf", "GGUF\x03");
  expect_refused("truncated", "t.gguf", (dir_ / "t.gguf").string());
}

}  // namespace

// Compares what the loaders see with listings written by an independent reader (the Python gguf
// and safetensors packages, tools/reference/dump_model_index.py): every tensor's type, NumPy-order
// shape, absolute offset, size and CRC-32 of its bytes, and the GGUF metadata.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "crc32.h"
#include "fixture_images.h"
#include "mnemo/core/mapped_file.h"
#include "mnemo/io/gguf.h"
#include "mnemo/io/safetensors.h"

namespace {
using nlohmann::json;
using namespace mnemo;
using namespace mnemo::io;

json read_listing(const std::string& name) {
  std::ifstream in(io_data_dir() + "/" + name);
  EXPECT_TRUE(in) << "missing listing " << name << "; run tools/reference/dump_model_index.py";
  return json::parse(in);
}

std::string models_dir() { return std::string(MNEMO_SOURCE_DIR) + "/models"; }

std::vector<int64_t> shape_of(const TensorView& v) { return {v.shape.begin(), v.shape.begin() + v.ndim}; }

// Long arrays in real-model listings are summarised as {"array_len", "head"}.
void expect_metadata_matches(const json& expected, const json& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [key, want] : expected.items()) {
    ASSERT_TRUE(actual.contains(key)) << key;
    const json& got = actual[key];
    if (want.is_object()) {
      ASSERT_TRUE(got.is_array()) << key;
      EXPECT_EQ(got.size(), want["array_len"].get<size_t>()) << key;
      for (size_t i = 0; i < want["head"].size(); ++i) EXPECT_EQ(got[i], want["head"][i]) << key << "[" << i << "]";
    } else {
      EXPECT_EQ(got, want) << key;
    }
  }
}

// Checks tensors of one mapped file: offsets relative to the map's base, sizes and checksums.
void expect_tensor_matches(const json& want, const TensorView& got, const std::byte* base) {
  const std::string name = want["name"];
  EXPECT_EQ(std::string(dtype_name(got.dtype)), want["dtype"].get<std::string>()) << name;
  EXPECT_EQ(shape_of(got), want["shape"].get<std::vector<int64_t>>()) << name;
  EXPECT_EQ(static_cast<const std::byte*>(got.data) - base, want["offset"].get<int64_t>()) << name;
  EXPECT_EQ(got.nbytes, want["nbytes"].get<uint64_t>()) << name;
  EXPECT_EQ(crc32_of(got.data, got.nbytes), want["crc32"].get<uint32_t>()) << name;
}

void expect_gguf_matches_listing(const std::string& path, const json& listing) {
  MappedFile map(path);
  const GgufImage img = parse_gguf(map.data(), map.size(), path);
  EXPECT_EQ(img.version, listing["version"].get<uint32_t>());
  EXPECT_EQ(img.alignment, listing["alignment"].get<uint64_t>());
  EXPECT_EQ(img.data_offset, listing["data_offset"].get<uint64_t>());
  expect_metadata_matches(listing["metadata"], img.metadata);
  ASSERT_EQ(img.tensors.size(), listing["tensors"].size());
  for (size_t i = 0; i < img.tensors.size(); ++i) {  // GGUF keeps file order
    EXPECT_EQ(img.tensors[i].name, listing["tensors"][i]["name"].get<std::string>());
    expect_tensor_matches(listing["tensors"][i], img.tensors[i].view, map.data());
  }
}

void expect_hf_matches_listing(const std::string& folder, const json& listing) {
  const auto model = open_model(folder);
  EXPECT_EQ(model->format(), "safetensors");
  EXPECT_EQ(model->architecture(), listing["architecture"].get<std::string>());
  size_t n_used = 0, n_skipped = 0;
  std::map<std::string, std::unique_ptr<MappedFile>> maps;
  for (const auto& want : listing["tensors"]) {
    const std::string name = want["name"], file = folder + "/" + want["file"].get<std::string>();
    if (want["skipped"].get<bool>()) {
      ++n_skipped;
      const auto& sk = model->skipped_tensors();
      const auto it = std::find_if(sk.begin(), sk.end(), [&](const SkippedTensor& s) { return s.name == name; });
      ASSERT_NE(it, sk.end()) << name;
      std::string dtype = want["dtype"];
      for (char& c : dtype) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      EXPECT_EQ(it->dtype, dtype) << name;
      continue;
    }
    ++n_used;
    const TensorEntry* t = model->find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->file, file);
    // Offsets are checked against an image parsed from a map of our own.
    auto& map = maps[file];
    if (!map) map = std::make_unique<MappedFile>(file);
    const auto img = parse_safetensors(map->data(), map->size(), file);
    const auto it = std::find_if(img.begin(), img.end(), [&](const TensorEntry& e) { return e.name == name; });
    ASSERT_NE(it, img.end()) << name;
    expect_tensor_matches(want, it->view, map->data());
    EXPECT_EQ(crc32_of(t->view.data, t->view.nbytes), want["crc32"].get<uint32_t>()) << name;
  }
  EXPECT_EQ(model->tensors().size(), n_used);
  EXPECT_EQ(model->skipped_tensors().size(), n_skipped);
}

TEST(IoListing, GgufFixtureMatchesReference) {
  expect_gguf_matches_listing(io_data_dir() + "/tiny_v3.gguf", read_listing("tiny_v3.gguf.listing.json"));
}

TEST(IoListing, GgufVersion2ParsesLikeVersion3) {
  Bytes b = read_file_bytes(io_data_dir() + "/tiny_v3.gguf");
  ASSERT_GT(b.size(), 8u);
  b[4] = std::byte{2};
  const GgufImage img = parse_gguf(b.data(), b.size(), "v2.gguf");
  EXPECT_EQ(img.version, 2u);
  EXPECT_EQ(img.tensors.size(), read_listing("tiny_v3.gguf.listing.json")["tensors"].size());
}

TEST(IoListing, GgufFixtureThroughOpenModel) {
  const auto model = open_model(io_data_dir() + "/tiny_v3.gguf");
  EXPECT_EQ(model->format(), "gguf");
  EXPECT_EQ(model->architecture(), "tinytest");
  const TensorEntry* q = model->find("q4_1.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->view.dtype, DType::Q4_1);
  EXPECT_EQ(shape_string(q->view), "[1, 2, 64]");
  EXPECT_EQ(model->find("no.such.tensor"), nullptr);
  EXPECT_EQ(model->metadata()["test.nested_string"], json::parse(R"([["a"],["b","c"]])"));
}

TEST(IoListing, HfShardedFixtureMatchesReference) {
  expect_hf_matches_listing(io_data_dir() + "/hf_sharded", read_listing("hf_sharded.listing.json"));
}

TEST(IoListing, SafetensorsFileInsideAFolderWithConfig) {
  const auto model = open_model(io_data_dir() + "/hf_sharded/model-00001-of-00002.safetensors");
  EXPECT_EQ(model->architecture(), "tinybert");
  EXPECT_EQ(model->tensors().size(), 4u);
}

TEST(IoListing, SmolLM2Gguf) {
  const std::string path = models_dir() + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " missing; run scripts/setup";
  expect_gguf_matches_listing(path, read_listing("SmolLM2-135M-Instruct.Q4_1.gguf.listing.json"));
  const auto model = open_model(path);
  EXPECT_EQ(model->architecture(), "llama");
  EXPECT_EQ(model->tensors().size(), 272u);
  EXPECT_EQ(model->metadata()["llama.block_count"], 30);
  EXPECT_EQ(model->metadata()["llama.embedding_length"], 576);
  EXPECT_EQ(model->metadata()["tokenizer.ggml.tokens"].size(), 49152u);
  const TensorEntry* emb = model->find("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->view.dtype, DType::Q8_0);
  EXPECT_EQ(shape_string(emb->view), "[49152, 576]");
  const TensorEntry* ffn = model->find("blk.0.ffn_down.weight");
  ASSERT_NE(ffn, nullptr);
  EXPECT_EQ(ffn->view.dtype, DType::Q4_1);
  EXPECT_EQ(shape_string(ffn->view), "[576, 1536]");
  const TensorEntry* norm = model->find("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->view.dtype, DType::F32);
  EXPECT_EQ(shape_string(norm->view), "[576]");
}

TEST(IoListing, MiniLMFolder) {
  const std::string path = models_dir() + "/all-MiniLM-L6-v2";
  if (!std::filesystem::exists(path + "/model.safetensors")) GTEST_SKIP() << path << " missing; run scripts/setup";
  expect_hf_matches_listing(path, read_listing("all-MiniLM-L6-v2.listing.json"));
  const auto model = open_model(path);
  EXPECT_EQ(model->architecture(), "bert");
  EXPECT_EQ(model->tensors().size() + model->skipped_tensors().size(), 104u);
  const TensorEntry* pos = model->find("embeddings.position_ids");
  ASSERT_NE(pos, nullptr);
  EXPECT_EQ(pos->view.dtype, DType::I64);
  EXPECT_EQ(shape_string(pos->view), "[1, 512]");
  EXPECT_EQ(model->metadata()["hidden_size"], 384);
}

}  // namespace

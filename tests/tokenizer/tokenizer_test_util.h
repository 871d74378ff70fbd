// Shared by the tokenizer tests: where the data lives and how to load each test tokenizer.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "mnemo/tokenizer/tokenizer.h"

namespace mnemo::tok::test {

inline std::string data_path(const std::string& name) {
  return std::string(MNEMO_SOURCE_DIR) + "/tests/data/tokenizer/" + name;
}
inline std::string golden_path(const std::string& name) {
  return std::string(MNEMO_SOURCE_DIR) + "/tests/golden/tokenizer/" + name + ".json";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_file(path)); }

// SmolLM2's tokenizer.ggml.* metadata as engine/io gives it, exported by the golden script.
inline const nlohmann::json& smollm2_metadata() {
  static const nlohmann::json metadata = read_json(data_path("smollm2_gguf_tokenizer.json"));
  return metadata;
}

inline std::unique_ptr<Tokenizer> load_named(const std::string& name) {
  if (name == "smollm2_gguf") return load_gguf_tokenizer(smollm2_metadata(), "SmolLM2-135M.gguf");
  if (name == "minilm_json") return load_tokenizer_json(data_path("minilm/tokenizer.json"));
  if (name == "minilm_vocab_txt") return load_wordpiece_vocab(data_path("minilm/vocab.txt"), true);
  if (name == "tiny_bpe_json") return load_tokenizer_json(data_path("tiny_bpe/tokenizer.json"));
  if (name == "tiny_bpe_vocab_merges")
    return load_gpt2_vocab_merges(data_path("tiny_bpe/vocab.json"), data_path("tiny_bpe/merges.txt"));
  if (name == "tiny_llama3_json") return load_tokenizer_json(data_path("tiny_llama3/tokenizer.json"));
  return nullptr;
}

// Each tokenizer is built once per test binary: SmolLM2's takes a while to parse.
inline const Tokenizer& shared(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& slot = cache[name];
  if (!slot) slot = load_named(name);
  return *slot;
}

}  // namespace mnemo::tok::test

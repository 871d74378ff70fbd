// Tokenizer throughput on English prose (bytes/s), for SmolLM2's byte-level BPE (from its GGUF
// metadata export) and all-MiniLM-L6-v2's WordPiece.
//   build-tok/bin/bench_tokenizer --benchmark_min_time=1
// Warm: the word cache already holds the text's words (a long document, a chat). Cold: a fresh
// tokenizer's cache each iteration, the worst case for the first request.
#include <fstream>
#include <sstream>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "mnemo/tokenizer/tokenizer.h"

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string data(const std::string& name) {
  return std::string(MNEMO_SOURCE_DIR) + "/tests/data/tokenizer/" + name;
}

// About 1 MB of English: the golden paragraph and strings, shuffled into varied sentences so the
// text is not one repeated line.
const std::string& english_text() {
  static const std::string text = [] {
    const auto golden = nlohmann::json::parse(read(std::string(MNEMO_SOURCE_DIR) +
                                                   "/tests/golden/tokenizer/tiny_bpe.json"));
    std::vector<std::string> words;
    for (const auto& c : golden["cases"]) {
      std::istringstream in(c["text"].get<std::string>());
      for (std::string w; in >> w;)
        if (w.size() < 20) words.push_back(w);
    }
    std::string out;
    uint32_t state = 12345;
    while (out.size() < (1u << 20)) {
      state = state * 1664525u + 1013904223u;
      out += words[(state >> 8) % words.size()];
      out += (state & 0xF) == 0 ? ".\n" : " ";
    }
    return out;
  }();
  return text;
}

std::unique_ptr<mnemo::tok::Tokenizer> smollm2() {
  static const auto metadata = nlohmann::json::parse(read(data("smollm2_gguf_tokenizer.json")));
  return mnemo::tok::load_gguf_tokenizer(metadata, "SmolLM2.gguf");
}

void BM_Bpe_SmolLM2_Warm(benchmark::State& state) {
  const auto tok = smollm2();
  const std::string& text = english_text();
  size_t tokens = 0;
  for (auto _ : state) {
    const auto ids = tok->encode(text, false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_Bpe_SmolLM2_Warm)->Unit(benchmark::kMillisecond);

void BM_Bpe_SmolLM2_ColdCache(benchmark::State& state) {
  const std::string text = english_text().substr(0, 64 * 1024);
  for (auto _ : state) {
    state.PauseTiming();
    auto tok = smollm2();
    state.ResumeTiming();
    benchmark::DoNotOptimize(tok->encode(text, false).data());
    state.PauseTiming();
    tok.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Bpe_SmolLM2_ColdCache)->Unit(benchmark::kMillisecond);

void BM_Bpe_SmolLM2_Decode(benchmark::State& state) {
  const auto tok = smollm2();
  const auto ids = tok->encode(english_text(), false);
  for (auto _ : state) benchmark::DoNotOptimize(tok->decode(ids).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * english_text().size()));
}
BENCHMARK(BM_Bpe_SmolLM2_Decode)->Unit(benchmark::kMillisecond);

void BM_WordPiece_MiniLM(benchmark::State& state) {
  const auto tok = mnemo::tok::load_tokenizer_json(data("minilm/tokenizer.json"));
  const std::string& text = english_text();
  for (auto _ : state) benchmark::DoNotOptimize(tok->encode(text, true).data());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_WordPiece_MiniLM)->Unit(benchmark::kMillisecond);

void BM_Load_SmolLM2(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(smollm2().get());
}
BENCHMARK(BM_Load_SmolLM2)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

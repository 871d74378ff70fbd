// encode is const and may be called from several threads at once (the word cache is shared):
// every thread must get the single-threaded result.
#include <thread>

#include <gtest/gtest.h>

#include "tokenizer_test_util.h"

namespace mnemo::tok::test {
namespace {

TEST(Concurrency, ParallelEncodesAgreeWithSerial) {
  const auto tok = load_gguf_tokenizer(smollm2_metadata(), "SmolLM2.gguf");  // cold cache
  std::vector<std::string> texts;
  const nlohmann::json cases = read_json(golden_path("smollm2"))["cases"];
  for (const auto& c : cases) texts.push_back(c["text"]);
  std::vector<std::vector<std::vector<int32_t>>> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (const std::string& text : texts) results[t].push_back(tok->encode(text, true));
    });
  for (auto& thread : threads) thread.join();
  const auto serial = load_gguf_tokenizer(smollm2_metadata(), "SmolLM2.gguf");
  for (const auto& per_thread : results)
    for (size_t i = 0; i < per_thread.size(); ++i)
      ASSERT_EQ(per_thread[i], serial->encode(texts[i % texts.size()], true));
}

}  // namespace
}  // namespace mnemo::tok::test

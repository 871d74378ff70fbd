// The trained task models of assets/models (tools/train/train.py): the engine's logits on the
// written files against PyTorch's (reference.json, computed by the training module at the end of
// training) on two held-out examples each, fed as `mnemo eval` feeds them: in segments that end
// at the compared positions, the state or cache carried across.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mnemo::test {
namespace {

// The committed models, and the random ones of every family the test fixture writes the same way
// (so that the comparison runs, and can fail, whatever assets/models holds).
const std::filesystem::path kModels = std::filesystem::path(MNEMO_SOURCE_DIR) / "assets" / "models";
const std::filesystem::path kFixtureModels = MNEMO_TASK_MODEL_DIR;

std::vector<std::filesystem::path> models_under(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  if (std::filesystem::is_directory(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (std::filesystem::exists(e.path() / "reference.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TrainedModels, LogitsEqualPyTorchsOnHeldOutExamples) {
  auto models = models_under(kFixtureModels);
  ASSERT_EQ(models.size(), 10u) << "the random task models of every family in " << kFixtureModels
                               << ": run the train.write_random_model test first";
  for (const auto& dir : models_under(kModels)) models.push_back(dir);
  for (const auto& dir : models) {
    SCOPED_TRACE(dir.filename().string());
    std::ifstream f(dir / "reference.json");
    const nlohmann::json ref = nlohmann::json::parse(f);
    auto model = open_test_model(dir.string());
    const size_t vocab = static_cast<size_t>(model->info().vocab_size);
    for (const auto& example : ref["examples"]) {
      const std::vector<int32_t> ids = model->tokenizer().encode(example["text"].get<std::string>(), false);
      model->reset();
      size_t fed = 0;
      double worst = 0;
      for (size_t k = 0; k < example["positions"].size(); ++k) {
        const size_t p = example["positions"][k].get<size_t>();
        ASSERT_LT(p, ids.size());
        const auto logits = model->forward(std::span<const int32_t>(ids.data() + fed, p + 1 - fed));
        fed = p + 1;
        const std::vector<float> want = example["logits"][k].get<std::vector<float>>();
        ASSERT_EQ(want.size(), vocab);
        const Diff d = compare(logits, want, vocab);
        worst = std::max(worst, d.rel_l2);
        EXPECT_LT(d.rel_l2, 1e-4) << "position " << p << ", max abs " << d.max_abs;
      }
      std::printf("%s, %s length %d: logits rel L2 <= %.1e at %zu positions\n", dir.filename().c_str(),
                  example["task"].get<std::string>().c_str(), example["length"].get<int>(), worst,
                  example["positions"].size());
    }
  }
}

}  // namespace
}  // namespace mnemo::test

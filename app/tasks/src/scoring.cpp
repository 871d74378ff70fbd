#include "mnemo/tasks/scoring.h"

#include <algorithm>
#include <cmath>

#include "mnemo/core/error.h"

namespace mnemo::tasks {
namespace {

int64_t count_words(const std::string& text) {
  int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

}  // namespace

bool ExampleScore::all_right() const {
  return std::all_of(answers.begin(), answers.end(), [](const AnswerScore& a) { return a.predicted == a.expected; });
}

std::vector<int32_t> example_tokens(rt::Model& model, const TaskExample& example) {
  std::vector<int32_t> ids = model.tokenizer().encode(example.text, false);
  const int64_t words = count_words(example.text);
  if (static_cast<int64_t>(ids.size()) != words)
    throw Error("the model's tokenizer makes " + std::to_string(ids.size()) + " tokens of an example's " +
                std::to_string(words) + " words: the answers are word positions, so this is not a task model " +
                "(its tokenizer.json should be assets/tasks/tokenizer.json)");
  if (static_cast<int64_t>(ids.size()) > model.max_context())
    throw Error("an example of " + std::to_string(ids.size()) + " tokens exceeds the model's context of " +
                std::to_string(model.max_context()));
  for (int64_t p : example.answers)
    if (p >= static_cast<int64_t>(ids.size()))
      throw Error("an answer at word " + std::to_string(p) + " of a " + std::to_string(ids.size()) + "-word example");
  return ids;
}

ExampleScore score_example(rt::Model& model, const TaskExample& example) {
  const std::vector<int32_t> ids = example_tokens(model, example);
  ExampleScore score;
  model.reset();
  int64_t fed = 0;
  for (int64_t p : example.answers) {
    const std::span<const float> logits =
        model.forward(std::span<const int32_t>(ids.data() + fed, static_cast<size_t>(p - fed)));
    fed = p;
    AnswerScore a;
    a.position = p;
    a.expected = ids[static_cast<size_t>(p)];
    a.predicted = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    const float top = logits[static_cast<size_t>(a.predicted)];
    double sum = 0;
    for (float l : logits) sum += std::exp(static_cast<double>(l - top));
    a.probability = static_cast<float>(std::exp(static_cast<double>(logits[static_cast<size_t>(a.expected)] - top)) / sum);
    a.confidence = static_cast<float>(1.0 / sum);
    score.answers.push_back(a);
  }
  return score;
}

SetScore score_set(rt::Model& model, const TaskSet& set, int64_t limit,
                   const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t n = limit < 0 ? static_cast<int64_t>(set.examples.size())
                              : std::min<int64_t>(limit, static_cast<int64_t>(set.examples.size()));
  SetScore s;
  for (int64_t i = 0; i < n; ++i) {
    const ExampleScore e = score_example(model, set.examples[static_cast<size_t>(i)]);
    for (const auto& a : e.answers) s.answers_right += a.predicted == a.expected;
    s.answers += static_cast<int64_t>(e.answers.size());
    s.examples_right += e.all_right();
    ++s.examples;
    if (progress) progress(i + 1, n);
  }
  return s;
}

}  // namespace mnemo::tasks

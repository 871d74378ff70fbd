// Scores a model on task examples through the engine as a user runs it: the example's tokens are
// fed in segments that end before each answer (so the answers' logits come from the normal
// prefill path with its state or cache carried over), and each answer is right when the argmax
// of the logits before it is the answer's token.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "mnemo/runtime/model.h"
#include "mnemo/tasks/task_set.h"

namespace mnemo::tasks {

struct AnswerScore {
  int64_t position = 0;     // of the answer in the example's tokens
  int32_t expected = 0;     // its token
  int32_t predicted = 0;    // argmax of the logits at position - 1
  float probability = 0.f;  // the softmax probability of `expected` there
  float confidence = 0.f;   // the softmax probability of `predicted` there
};

struct ExampleScore {
  std::vector<AnswerScore> answers;
  bool all_right() const;
};

// The example's tokens for this model. Throws mnemo::Error when the model's tokenizer does not
// split the text into its words (the answers are word positions: the model is not one of the task
// models), the example does not fit the model's context, or an answer lies past its text.
std::vector<int32_t> example_tokens(rt::Model& model, const TaskExample& example);

// Throws as example_tokens.
ExampleScore score_example(rt::Model& model, const TaskExample& example);

struct SetScore {
  int64_t answers = 0, answers_right = 0, examples = 0, examples_right = 0;
  double answer_accuracy() const { return answers ? static_cast<double>(answers_right) / static_cast<double>(answers) : 0; }
  double example_accuracy() const {
    return examples ? static_cast<double>(examples_right) / static_cast<double>(examples) : 0;
  }
};

// The first `limit` examples (all when negative); `progress` is called after each one.
SetScore score_set(rt::Model& model, const TaskSet& set, int64_t limit,
                   const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace mnemo::tasks

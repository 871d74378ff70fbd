// A held-out set of one memory task at one length: assets/tasks/<task>/heldout-<length>.jsonl,
// written by tools/train/tasks.py. Each line is {"task", "length", "text", "answers"}: the text's
// words are the tokens of the task models' tokenizer, and `answers` are the word positions a model
// must predict (from the logits one position earlier).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mnemo::tasks {

struct TaskExample {
  std::string text;
  std::vector<int64_t> answers;  // word positions, ascending, each >= 1
};

struct TaskSet {
  std::string task;
  int64_t length = 0;
  std::string path;
  std::vector<TaskExample> examples;
};

// Reads one held-out file. Throws mnemo::Error naming the file and line of anything malformed.
TaskSet load_task_set(const std::string& path);

// A task prompt (assets/prompts/<name>.task.json): one example, as one line of a held-out set
// holds it, to be recorded with its answers scored (mnemo record --task-prompt, the Record panel).
struct TaskPrompt {
  std::string task;
  int64_t length = 0;
  TaskExample example;
  std::string path;
};
// Throws mnemo::Error naming the file and what is wrong.
TaskPrompt load_task_prompt(const std::string& path);

// The held-out lengths of `task` present under `dir` (files heldout-<length>.jsonl), ascending.
// Throws when the task's folder does not exist or holds none.
std::vector<int64_t> heldout_lengths(const std::string& dir, const std::string& task);
std::string heldout_path(const std::string& dir, const std::string& task, int64_t length);

}  // namespace mnemo::tasks

// The CLI's commands. Each takes its arguments (after the command name) and returns the exit
// status; errors go to stderr.
#pragma once

#include <string>
#include <vector>

namespace mnemo::cli {

using Argv = std::vector<std::string>;

int cmd_run(const Argv& args);
int cmd_bench(const Argv& args);
int cmd_plugins(const Argv& args);
int cmd_model_info(const Argv& args);
int cmd_record(const Argv& args);
int cmd_info(const Argv& args);
int cmd_tile(const Argv& args);
int cmd_stats(const Argv& args);
int cmd_export(const Argv& args);
int cmd_eval(const Argv& args);

// Shared by commands that load a model.
struct ModelArgs;

}  // namespace mnemo::cli

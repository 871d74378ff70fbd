// mnemo: the command-line face of Mnemoscope's engine.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "commands.h"
#include "mnemo/core/error.h"
#include "mnemo/plugin_abi.h"

namespace {

constexpr const char* kUsage =
    "usage: mnemo <command> [options]\n"
    "\n"
    "Mnemoscope: a microscope for the internals of sequence models.\n"
    "\n"
    "commands:\n"
    "  run          generate a continuation of a prompt\n"
    "  bench        time prefill and decode\n"
    "  plugins      list architecture plugins and whether they load\n"
    "  model-info   describe a model file: architecture, dimensions, tensor types, tokenizer\n"
    "  record       run a prompt and record every step into a session file (.mnemo)\n"
    "  info         describe a session: its runs, what they captured, their size\n"
    "  tile         write one tile of a head's attention map as .npy or .png\n"
    "  stats        where a recorded run spent its time, per op kind and layer\n"
    "  export       write a session as a Perfetto or Chrome JSON trace, or as CSV files\n"
    "  eval         a task model's accuracy on a memory task's held-out sets (assets/tasks)\n"
    "\n"
    "Run 'mnemo <command> --help' for a command's options. --model takes a GGUF file or a\n"
    "Hugging Face folder (config.json, *.safetensors, tokenizer files).\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace mnemo::cli;
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::printf("mnemo 0.1.0 (plugin ABI %d.%d)\n", MNEMO_PLUGIN_ABI_MAJOR, MNEMO_PLUGIN_ABI_MINOR);
    return 0;
  }
  Argv rest(argv + 2, argv + argc);
  try {
    if (command == "run") return cmd_run(rest);
    if (command == "bench") return cmd_bench(rest);
    if (command == "plugins") return cmd_plugins(rest);
    if (command == "model-info") return cmd_model_info(rest);
    if (command == "record") return cmd_record(rest);
    if (command == "info") return cmd_info(rest);
    if (command == "tile") return cmd_tile(rest);
    if (command == "stats") return cmd_stats(rest);
    if (command == "export") return cmd_export(rest);
    if (command == "eval") return cmd_eval(rest);
    std::fprintf(stderr, "mnemo: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const mnemo::UsageError& e) {
    std::fprintf(stderr, "mnemo %s: %s\n", command.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mnemo %s: error: %s\n", command.c_str(), e.what());
    return 1;
  }
}

#include "cli_common.h"

#include <cstdio>

#include "mnemo/core/error.h"

namespace mnemo::cli {

int parse_or_exit(Args& args, const std::vector<std::string>& argv) {
  if (!args.parse(argv)) {
    std::fprintf(stderr, "%s\n\n%s", args.error().c_str(), args.usage().c_str());
    return 2;
  }
  if (args.help_requested()) {
    std::fputs(args.usage().c_str(), stdout);
    return 0;
  }
  return -1;
}

void add_model_options(Args& args) {
  args.option("-m,--model", "PATH", "GGUF file or Hugging Face folder")
      .option("-t,--threads", "N", "worker threads (default: all cores)");
}

std::unique_ptr<rt::Model> open_model(const Args& args) {
  rt::ModelOptions options;
  const int64_t threads = args.integer("threads", 0);
  if (threads < 0 || threads > 1024) throw UsageError("--threads must be between 1 and 1024");
  options.threads = static_cast<int>(threads);
  return rt::Model::open(args.required("model"), options, rt::PluginRegistry::discover());
}

namespace {
// Length of the longest prefix of s that does not end inside a UTF-8 sequence.
size_t complete_utf8_prefix(const std::string& s) {
  size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    return back < need ? n - back : n;
  }
  return n;
}
}  // namespace

void StreamPrinter::push(int32_t id) {
  ids_.push_back(id);
  const std::string text = tokenizer_.decode(ids_, /*skip_special=*/true);
  const size_t ready = complete_utf8_prefix(text);
  if (ready > printed_) {
    std::fwrite(text.data() + printed_, 1, ready - printed_, stdout);
    std::fflush(stdout);
    printed_ = ready;
  }
}

void StreamPrinter::finish() {
  const std::string text = tokenizer_.decode(ids_, true);
  if (text.size() > printed_) std::fwrite(text.data() + printed_, 1, text.size() - printed_, stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace mnemo::cli

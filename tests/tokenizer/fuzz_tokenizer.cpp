// libFuzzer target: the input is a tokenizer description and a text, separated by "\n\x01\n".
// First byte 'G': the description is GGUF tokenizer.ggml.* metadata as JSON; otherwise it is a
// tokenizer.json. Loading may refuse the file (FormatError), encoding may refuse the text
// (mnemo::Error); anything else (a crash, a sanitizer report, another exception) is a bug.
// Seeds: tests/tokenizer/corpus/tokenizer/ (scripts/run_fuzzers picks them up).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.h"
#include "mnemo/tokenizer/tokenizer.h"

namespace {

const std::string& scratch_path() {
  static const std::string path = "/tmp/fuzz_tokenizer_" + std::to_string(::getpid()) + ".json";
  return path;
}

std::unique_ptr<mnemo::tok::Tokenizer> load(std::string_view description) {
  if (!description.empty() && description[0] == 'G') {
    const auto metadata = nlohmann::json::parse(description.substr(1), nullptr, false);
    if (metadata.is_discarded()) return nullptr;
    return mnemo::tok::load_gguf_tokenizer(metadata, "fuzz.gguf");
  }
  FILE* file = std::fopen(scratch_path().c_str(), "wb");
  if (!file) return nullptr;
  std::fwrite(description.data(), 1, description.size(), file);
  std::fclose(file);
  return mnemo::tok::load_tokenizer_json(scratch_path());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t separator = input.find("\n\x01\n");
  const std::string_view description = input.substr(0, separator);
  const std::string_view text =
      separator == std::string_view::npos ? std::string_view() : input.substr(separator + 3);
  try {
    const auto tok = load(description);
    if (!tok) return 0;
    for (bool add_special : {false, true}) {
      const std::vector<int32_t> ids = tok->encode(text, add_special);
      for (int32_t id : ids)
        if (id < 0 || id >= tok->vocab_size()) __builtin_trap();  // encode made up an id
      (void)tok->decode(ids, add_special);
    }
    for (int32_t id : {-1, 0, 1, tok->vocab_size() - 1, tok->vocab_size()}) (void)tok->token_text(id);
  } catch (const mnemo::Error&) {
  }
  return 0;
}

// libFuzzer target for the GGUF parser: any input must parse or throw FormatError; ASan/UBSan
// catch the rest. Seeds: tests/io/corpus/gguf/.
#include <cstddef>
#include <cstdint>

#include "mnemo/core/error.h"
#include "mnemo/io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto img = mnemo::io::parse_gguf(reinterpret_cast<const std::byte*>(data), size, "fuzz.gguf");
    (void)img.metadata.dump();  // every accepted string must be printable JSON
  } catch (const mnemo::FormatError&) {
  }
  return 0;
}

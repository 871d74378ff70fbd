// libFuzzer target for the safetensors parser: any input must parse or throw FormatError.
// Seeds: tests/io/corpus/safetensors/.
#include <cstddef>
#include <cstdint>

#include "mnemo/core/error.h"
#include "mnemo/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)mnemo::io::parse_safetensors_image(reinterpret_cast<const std::byte*>(data), size,
                                             "fuzz.safetensors");
  } catch (const mnemo::FormatError&) {
  }
  return 0;
}

// A plugin built against ABI 1 (before layer descriptors and activation buffers): the host must
// refuse it and name both versions. Its table is ABI 1's, whose leading fields (version, size,
// id) every major keeps in place so that a host can read them.
#include <stddef.h>
#include <stdint.h>

namespace {

struct abi1_plugin_api {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;
  const char* id;
  const char* version;
  const char* const* architectures;
  void* create;
  void* destroy;
  void* info;
  void* forward;
};

const char* const kArchs[] = {"fake-arch", nullptr};
const abi1_plugin_api kApi = {1, 1, sizeof(abi1_plugin_api), "abi1", "1.0.0", kArchs, nullptr, nullptr, nullptr, nullptr};

}  // namespace

extern "C" __attribute__((visibility("default"))) const void* mnemo_plugin_entry(uint32_t, uint32_t) { return &kApi; }

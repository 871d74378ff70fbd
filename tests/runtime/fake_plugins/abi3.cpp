// A plugin built against a future ABI major: the host must refuse it and name both versions.
#include "mnemo/plugin_abi.h"

namespace {
const char* const kArchs[] = {"fake-arch", nullptr};
const mnemo_plugin_api kApi = {3, 0, sizeof(mnemo_plugin_api), "abi3", "9.0.0", kArchs,
                               nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
}  // namespace

extern "C" MNEMO_PLUGIN_EXPORT const mnemo_plugin_api* mnemo_plugin_entry(uint32_t, uint32_t) { return &kApi; }

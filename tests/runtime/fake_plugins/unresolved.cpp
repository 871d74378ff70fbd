// A plugin whose library cannot be loaded: it needs a symbol that nothing provides (as one built
// against another version of some library would), so dlopen fails before any of its code runs.
// Its metadata claims a real architecture: the host must pass over it to a plugin that works.
#include "mnemo/plugin_abi.h"

extern "C" const mnemo_plugin_api* mnemo_fake_table_nobody_defines(void);

extern "C" MNEMO_PLUGIN_EXPORT const mnemo_plugin_api* mnemo_plugin_entry(uint32_t, uint32_t) {
  return mnemo_fake_table_nobody_defines();
}

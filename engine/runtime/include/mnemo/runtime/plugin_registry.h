// Finds architecture plugins, reads their metadata without running their code, and loads them.
//
// Each plugin is a shared library with a JSON file of the same stem beside it:
//   {"id": "transformer", "version": "2.0.0", "compatible_version": "2.0.0",
//    "abi": {"major": 2, "minor": 0}, "library": "transformer.so",
//    "architectures": ["gpt2", "llama", "bert"],
//    "capabilities": {"state": ["kv_cache"], "mixers": ["softmax"]}}
// Search path: $MNEMOSCOPE_PLUGIN_PATH (colon-separated), then ../lib/mnemoscope/plugins
// relative to the running executable.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mnemo/plugin_abi.h"

namespace mnemo::rt {

struct PluginInfo {
  std::string id;
  std::string version;
  std::string compatible_version;
  int abi_major = 0, abi_minor = 0;
  std::vector<std::string> architectures;
  std::vector<std::string> capabilities;  // e.g. "state:kv_cache"
  std::string metadata_path;
  std::string library_path;
  bool usable = false;   // metadata valid and ABI compatible
  std::string problem;   // why not usable, or why loading failed
};

class LoadedPlugin {
 public:
  LoadedPlugin(void* handle, const mnemo_plugin_api* api, PluginInfo info)
      : handle_(handle), api_(api), info_(std::move(info)) {}
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const mnemo_plugin_api& api() const { return *api_; }
  const PluginInfo& info() const { return info_; }

 private:
  void* handle_;
  const mnemo_plugin_api* api_;
  PluginInfo info_;
};

class PluginRegistry {
 public:
  // Scans the default search path.
  static PluginRegistry discover();
  // Scans the given directories, in order; the first plugin of an id wins.
  static PluginRegistry scan(const std::vector<std::string>& dirs);
  static std::vector<std::string> default_search_path();

  const std::vector<PluginInfo>& plugins() const { return plugins_; }
  // The first usable plugin serving `architecture` by its metadata, or null. It may still fail
  // to load: load_for() is what picks the plugin that runs a model.
  const PluginInfo* find_for(const std::string& architecture) const;

  // Loads the plugin that serves `architecture`: the first, in search order, that claims it and
  // loads. A plugin that claims it but cannot be used (bad metadata, another ABI major, a library
  // that fails to dlopen or to pass the ABI checks) is passed over, so a broken plugin never hides
  // a working one. Throws mnemo::Error naming each plugin that claimed the architecture and why it
  // failed when none loads, and the architectures that are served when none claims it.
  std::shared_ptr<LoadedPlugin> load_for(const std::string& architecture) const;

  // dlopens the plugin and checks its entry point against its metadata and our ABI. Throws
  // mnemo::Error with both ABI versions, or the loader's message, on failure.
  static std::shared_ptr<LoadedPlugin> load(const PluginInfo& info);

  // Tries to load every usable plugin, updating usable/problem with what happened (for
  // `mnemo plugins`). Plugins that fail do not affect the others.
  void probe_all();

 private:
  std::vector<PluginInfo> plugins_;
};

}  // namespace mnemo::rt

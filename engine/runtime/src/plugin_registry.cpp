#include "mnemo/runtime/plugin_registry.h"

#include <dlfcn.h>
#include <cstddef>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"

namespace fs = std::filesystem;

namespace mnemo::rt {
namespace {

std::string executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

// Reads one plugin's JSON metadata. Never runs plugin code.
PluginInfo read_metadata(const fs::path& json_path) {
  PluginInfo info;
  info.metadata_path = json_path.string();
  info.id = json_path.stem().string();
  try {
    const auto j = nlohmann::json::parse(read_text_file(info.metadata_path, 1 << 20));
    if (!j.is_object()) throw std::runtime_error("metadata is not a JSON object");
    info.id = j.at("id").get<std::string>();
    info.version = j.at("version").get<std::string>();
    info.compatible_version = j.value("compatible_version", info.version);
    info.abi_major = j.at("abi").at("major").get<int>();
    info.abi_minor = j.at("abi").at("minor").get<int>();
    info.architectures = j.at("architectures").get<std::vector<std::string>>();
    if (j.contains("capabilities") && j["capabilities"].is_object())
      for (const auto& [kind, values] : j["capabilities"].items())
        for (const auto& v : values) info.capabilities.push_back(kind + ":" + v.get<std::string>());
    const std::string library = j.at("library").get<std::string>();
    if (library.find('/') != std::string::npos) throw std::runtime_error("\"library\" must be a file name");
    info.library_path = (json_path.parent_path() / library).string();
  } catch (const std::exception& e) {
    info.problem = std::string("invalid plugin metadata: ") + e.what();
    return info;
  }
  if (info.abi_major != MNEMO_PLUGIN_ABI_MAJOR) {
    info.problem = "plugin ABI " + std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor) +
                   " is incompatible with the host's ABI " + std::to_string(MNEMO_PLUGIN_ABI_MAJOR) + "." +
                   std::to_string(MNEMO_PLUGIN_ABI_MINOR) + " (major versions differ)";
    return info;
  }
  if (!fs::exists(info.library_path)) {
    info.problem = "library not found: " + info.library_path;
    return info;
  }
  info.usable = true;
  return info;
}

}  // namespace

LoadedPlugin::~LoadedPlugin() {
  if (handle_) dlclose(handle_);
}

std::vector<std::string> PluginRegistry::default_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MNEMOSCOPE_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      const size_t end = std::min(s.find(':', start), s.size());
      if (end > start) dirs.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  const std::string exe = executable_dir();
  if (!exe.empty()) dirs.push_back((fs::path(exe).parent_path() / "lib" / "mnemoscope" / "plugins").string());
  return dirs;
}

PluginRegistry PluginRegistry::discover() { return scan(default_search_path()); }

PluginRegistry PluginRegistry::scan(const std::vector<std::string>& dirs) {
  PluginRegistry reg;
  std::set<std::string> seen;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      PluginInfo info = read_metadata(f);
      if (seen.insert(info.id).second) reg.plugins_.push_back(std::move(info));
    }
  }
  return reg;
}

const PluginInfo* PluginRegistry::find_for(const std::string& architecture) const {
  for (const auto& p : plugins_)
    if (p.usable && std::find(p.architectures.begin(), p.architectures.end(), architecture) != p.architectures.end())
      return &p;
  return nullptr;
}

std::shared_ptr<LoadedPlugin> PluginRegistry::load_for(const std::string& architecture) const {
  std::string failures;
  for (const auto& p : plugins_) {
    if (std::find(p.architectures.begin(), p.architectures.end(), architecture) == p.architectures.end()) continue;
    try {
      return load(p);  // refuses an unusable plugin with its problem
    } catch (const std::exception& e) {
      failures += (failures.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  if (!failures.empty())
    throw Error("no plugin that claims architecture '" + architecture + "' could be loaded: " + failures);
  std::string served;
  for (const auto& p : plugins_)
    if (p.usable)
      for (const auto& a : p.architectures) served += (served.empty() ? "" : ", ") + a;
  throw Error("no plugin serves architecture '" + architecture + "' (served: " +
              (served.empty() ? "none; is MNEMOSCOPE_PLUGIN_PATH right?" : served) + ")");
}

std::shared_ptr<LoadedPlugin> PluginRegistry::load(const PluginInfo& info) {
  if (!info.usable) throw Error("plugin '" + info.id + "': " + info.problem);
  void* handle = dlopen(info.library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw Error("plugin '" + info.id + "': cannot load " + info.library_path + ": " + dlerror());
  auto entry = reinterpret_cast<mnemo_plugin_entry_fn>(dlsym(handle, MNEMO_PLUGIN_ENTRY_SYMBOL));
  const mnemo_plugin_api* api = entry ? entry(MNEMO_PLUGIN_ABI_MAJOR, MNEMO_PLUGIN_ABI_MINOR) : nullptr;
  auto fail = [&](const std::string& why) {
    dlclose(handle);
    throw Error("plugin '" + info.id + "' (" + info.library_path + "): " + why);
  };
  if (!entry) fail("no " MNEMO_PLUGIN_ENTRY_SYMBOL " symbol");
  if (!api) fail("entry point returned no plugin table");
  if (api->abi_major != MNEMO_PLUGIN_ABI_MAJOR)
    fail("built for plugin ABI " + std::to_string(api->abi_major) + "." + std::to_string(api->abi_minor) +
         ", the host has ABI " + std::to_string(MNEMO_PLUGIN_ABI_MAJOR) + "." + std::to_string(MNEMO_PLUGIN_ABI_MINOR));
  // Tables grow at the end (2.2 added `segments`): 2.0's entries are what every plugin must have.
  if (api->struct_size < offsetof(mnemo_plugin_api, segments))
    fail("plugin table is smaller than ABI " + std::to_string(MNEMO_PLUGIN_ABI_MAJOR) + ".0 requires");
  if (!api->id || info.id != api->id)
    fail(std::string("library reports id '") + (api->id ? api->id : "") + "', metadata says '" + info.id + "'");
  if (!api->create || !api->destroy || !api->info || !api->layer || !api->forward) fail("plugin table has null entries");
  return std::make_shared<LoadedPlugin>(handle, api, info);
}

void PluginRegistry::probe_all() {
  for (auto& p : plugins_) {
    if (!p.usable) continue;
    try {
      load(p);
    } catch (const std::exception& e) {
      p.usable = false;
      p.problem = e.what();
    }
  }
}

}  // namespace mnemo::rt

// mnemo plugins: what architecture plugins exist and whether they load.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "mnemo/runtime/plugin_registry.h"

namespace mnemo::cli {

int cmd_plugins(const Argv& argv) {
  Args args("plugins", "Lists the architecture plugins found on the search path ($MNEMOSCOPE_PLUGIN_PATH, then\n"
                       "lib/mnemoscope/plugins beside the binary), loading each to check it.");
  args.flag("--json", "print JSON");
  if (int rc = parse_or_exit(args, argv); rc >= 0) return rc;

  auto registry = rt::PluginRegistry::discover();
  registry.probe_all();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : registry.plugins()) {
    nlohmann::json j;
    j["id"] = p.id;
    j["version"] = p.version;
    j["abi"] = std::to_string(p.abi_major) + "." + std::to_string(p.abi_minor);
    j["architectures"] = p.architectures;
    j["capabilities"] = p.capabilities;
    j["library"] = p.library_path;
    j["metadata"] = p.metadata_path;
    j["status"] = p.usable ? "ok" : "failed";
    if (!p.usable) j["error"] = p.problem;
    out.push_back(j);
  }
  if (args.has("json")) {
    nlohmann::json doc;
    doc["search_path"] = rt::PluginRegistry::default_search_path();
    doc["host_abi"] = std::to_string(MNEMO_PLUGIN_ABI_MAJOR) + "." + std::to_string(MNEMO_PLUGIN_ABI_MINOR);
    doc["plugins"] = out;
    print_json(doc);
    return 0;
  }
  if (registry.plugins().empty()) {
    std::printf("no plugins found (searched:");
    for (const auto& d : rt::PluginRegistry::default_search_path()) std::printf(" %s", d.c_str());
    std::printf(")\n");
    return 0;
  }
  for (const auto& p : registry.plugins()) {
    std::string archs;
    for (const auto& a : p.architectures) archs += (archs.empty() ? "" : ", ") + a;
    std::printf("%-14s %-8s abi %d.%d  %-6s %s\n", p.id.c_str(), p.version.c_str(), p.abi_major, p.abi_minor,
                p.usable ? "ok" : "FAILED", archs.c_str());
    if (!p.usable) std::printf("    %s\n", p.problem.c_str());
  }
  return 0;
}

}  // namespace mnemo::cli

// Opening models in tests: plugins from this build tree only.
#pragma once

#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "mnemo/runtime/model.h"
#include "paths.h"

namespace mnemo::test {

inline const rt::PluginRegistry& build_plugins() {
  static const rt::PluginRegistry registry = rt::PluginRegistry::scan({plugin_dir()});
  return registry;
}

// A reference script's OUTDIR/expected.json, parsed once per directory; the error names the
// fixture that writes it.
inline const nlohmann::json& expected_json(const std::string& dir, const std::string& fixture) {
  static std::map<std::string, nlohmann::json> parsed;
  auto it = parsed.find(dir);
  if (it == parsed.end()) {
    std::ifstream f(dir + "/expected.json");
    if (!f) throw std::runtime_error("missing " + dir + "/expected.json: run the " + fixture + " test first");
    it = parsed.emplace(dir, nlohmann::json::parse(f)).first;
  }
  return it->second;
}

inline std::unique_ptr<rt::Model> open_test_model(const std::string& path, int threads = 2) {
  rt::ModelOptions o;
  o.threads = threads;
  return rt::Model::open(path, o, build_plugins());
}

// max |a - b| and ||a - b|| / ||b||.
struct Diff {
  double max_abs = 0, rel_l2 = 0;
};
template <class A, class B>
Diff compare(const A& a, const B& b, size_t n) {
  double num = 0, den = 0;
  Diff d;
  for (size_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    d.max_abs = std::max(d.max_abs, std::abs(e));
    num += e * e;
    den += static_cast<double>(b[i]) * b[i];
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return d;
}

}  // namespace mnemo::test

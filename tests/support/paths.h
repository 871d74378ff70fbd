// Where tests find the repository, the models scripts/setup places, and the built plugins.
#pragma once

#include <string>

namespace mnemo::test {

inline std::string source_dir() { return MNEMO_SOURCE_DIR; }
inline std::string binary_dir() { return MNEMO_BINARY_DIR; }
inline std::string models_dir() { return source_dir() + "/models"; }
inline std::string plugin_dir() { return binary_dir() + "/lib/mnemoscope/plugins"; }

}  // namespace mnemo::test

// Where tests find the repository, the models scripts/setup places, and the built plugins.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace mnemo::test {

inline std::string source_dir() { return MNEMO_SOURCE_DIR; }
inline std::string binary_dir() { return MNEMO_BINARY_DIR; }
inline std::string models_dir() { return source_dir() + "/models"; }
inline std::string plugin_dir() { return binary_dir() + "/lib/mnemoscope/plugins"; }

// A fresh session path `name` in this process's temporary folder <tmp>/<prefix>-<pid> (any file
// there from an earlier test of the same name, and its WAL, removed).
inline std::string temp_session(const std::string& prefix, const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string p = (dir / name).string();
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(p + s);
  return p;
}

}  // namespace mnemo::test

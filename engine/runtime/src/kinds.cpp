#include "mnemo/runtime/kinds.h"

#include <algorithm>
#include <map>

#include "mnemo/core/error.h"
#include "mnemo/core/visibility.h"

namespace mnemo::rt {
namespace {

constexpr size_t kMaxNameBytes = 31;

// The built-in mixer kinds and what they are made of (docs/ARCHITECTURE.md, "Host services
// through a backend"). The CPU backend runs "attention" today; the others are declared so that a
// model using them is refused at load with the op its backend lacks.
std::vector<MixerKind> builtin_mixers() {
  const std::vector<std::string> recurrent = {"recurrent_state"};
  std::vector<MixerKind> m = {{"softmax", {"attention"}, {"kv_cache"}}};
  for (const char* linear : {"linear", "retnet", "gla", "delta", "gated_delta"})
    m.push_back({linear, {"linear_mixer"}, recurrent});
  for (const char* ssm : {"mamba1", "mamba2"}) m.push_back({ssm, {"causal_conv1d", "ssm_scan"}, recurrent});
  return m;
}

struct MixerTable {
  std::mutex mutex;
  std::map<std::string, MixerKind, std::less<>> kinds;
  MixerTable() {
    for (auto& k : builtin_mixers()) kinds.emplace(k.name, k);
  }
};

MixerTable& mixer_table() {
  static MixerTable table;
  return table;
}

}  // namespace

KindRegistry::KindRegistry(std::initializer_list<const char*> builtins) {
  for (const char* name : builtins) names_.emplace_back(name);
}

int32_t KindRegistry::intern(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes)
    throw Error("a kind name must have 1 to " + std::to_string(kMaxNameBytes) + " bytes, not '" + std::string(name) + "'");
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int32_t>(i);
  names_.emplace_back(name);
  return static_cast<int32_t>(names_.size() - 1);
}

std::optional<int32_t> KindRegistry::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return static_cast<int32_t>(i);
  return std::nullopt;
}

const char* KindRegistry::name(int32_t id) const {
  std::lock_guard lock(mutex_);
  return id >= 0 && static_cast<size_t>(id) < names_.size() ? names_[static_cast<size_t>(id)].c_str() : "unknown";
}

std::vector<std::string> KindRegistry::names() const {
  std::lock_guard lock(mutex_);
  return {names_.begin(), names_.end()};
}

KindRegistry& op_kinds() {
  static KindRegistry r{"embed", "norm", "matmul", "rope", "attention", "activation", "add", "lm_head", "copy"};
  return r;
}

KindRegistry& mixer_kinds() {
  static KindRegistry r{"softmax", "linear", "retnet", "gla", "delta", "gated_delta", "mamba1", "mamba2"};
  return r;
}

KindRegistry& memory_kinds() {
  static KindRegistry r{"none", "kv_cache", "recurrent_state", "memory_tokens"};
  return r;
}

KindRegistry& mask_patterns() {
  static KindRegistry r{mask_pattern_name(MaskPattern::None), mask_pattern_name(MaskPattern::Causal),
                        mask_pattern_name(MaskPattern::Window)};
  return r;
}

void register_mixer(MixerKind kind) {
  mixer_kinds().intern(kind.name);
  MixerTable& t = mixer_table();
  std::lock_guard lock(t.mutex);
  t.kinds.insert_or_assign(kind.name, std::move(kind));
}

std::optional<MixerKind> find_mixer(std::string_view name) {
  MixerTable& t = mixer_table();
  std::lock_guard lock(t.mutex);
  auto it = t.kinds.find(name);
  if (it == t.kinds.end()) return std::nullopt;
  return it->second;
}

}  // namespace mnemo::rt

// Kinds are names, never closed enums: op kinds (what timings are labelled with), mixer kinds
// (the token mixer a layer declares), memory kinds and mask patterns. Each registry gives a name a
// small id, stable for the process, for compact records (the session's _op_kind, _mixer_kind).
// A new kind changes neither the plugin ABI nor the session schema.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::rt {

class KindRegistry {
 public:
  explicit KindRegistry(std::initializer_list<const char*> builtins);

  // The id of `name`, registering it on first use. Throws mnemo::Error for an empty name or one
  // longer than 31 bytes (the ABI's MNEMO_KIND_NAME_MAX).
  int32_t intern(std::string_view name);
  std::optional<int32_t> find(std::string_view name) const;
  // The name of `id` (the pointer stays valid for the process), or "unknown".
  const char* name(int32_t id) const;
  // Every name, indexed by id.
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::string> names_;
};

// Op kinds. The first eight keep the ids of session schema v1's _op_kind table (embed 0, norm 1,
// matmul 2, rope 3, attention 4, activation 5, add 6, lm_head 7); later ones follow.
KindRegistry& op_kinds();
KindRegistry& mixer_kinds();
KindRegistry& memory_kinds();
KindRegistry& mask_patterns();

// Shorthands for the op kind registry.
inline const char* op_kind_name(int32_t id) { return op_kinds().name(id); }
inline std::vector<std::string> op_kind_names() { return op_kinds().names(); }

// What running a mixer kind takes: the backend ops it needs and the memory kinds it can keep.
// The one place that knows which ops a family's mixer is made of.
struct MixerKind {
  std::string name;
  std::vector<std::string> ops;       // backend ops (supports_op is asked about each at load)
  std::vector<std::string> memories;  // memory kinds a layer of this mixer may declare
};
// Registers (or replaces) a mixer kind; also interns its name in mixer_kinds().
void register_mixer(MixerKind kind);
// The mixer kind `name`, or nullopt when none is registered.
std::optional<MixerKind> find_mixer(std::string_view name);

}  // namespace mnemo::rt

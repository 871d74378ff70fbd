#include "mnemo/profiler/session/mixer_map.h"

#include <algorithm>

namespace mnemo::profiler {

MixerMapRegistry& MixerMapRegistry::instance() {
  static MixerMapRegistry* registry = [] {
    auto* r = new MixerMapRegistry;
    register_builtin_mixer_maps(*r);
    return r;
  }();
  return *registry;
}

void MixerMapRegistry::add(const std::string& mixer, MixerMapKind kind) { kinds_[mixer] = std::move(kind); }

const MixerMapKind* MixerMapRegistry::find(const std::string& mixer) const {
  const auto it = kinds_.find(mixer);
  return it == kinds_.end() ? nullptr : &it->second;
}

int64_t channels_per_head(const MixerMapKind& kind, const MixerLayer& layer) {
  return kind.channels_per_head ? std::max<int64_t>(kind.channels_per_head(layer), 0) : 0;
}

std::string map_label(const MixerMapKind& kind, int32_t head, int64_t channel) {
  if (channel < 0) return kind.label;
  return kind.channel_label + ", channel " + std::to_string(channel) + " of head " + std::to_string(head);
}

void register_builtin_mixer_maps(MixerMapRegistry& registry) {
  register_softmax_map(registry);
  register_stored_map(registry);
  register_recurrent_maps(registry);  // linear, retnet, gla, delta, gated_delta, mamba1, mamba2
}

}  // namespace mnemo::profiler

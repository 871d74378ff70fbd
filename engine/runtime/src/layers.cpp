#include "mnemo/runtime/layers.h"

#include <algorithm>
#include <cstring>

#include "mnemo/core/error.h"
#include "mnemo/runtime/kinds.h"

namespace mnemo::rt {
namespace {

// A fixed-size name field as a string; throws when the plugin left it unterminated.
std::string name_field(const char (&field)[MNEMO_KIND_NAME_MAX], const char* what, const std::string& where) {
  const void* end = std::memchr(field, '\0', sizeof field);
  if (!end) throw Error(where + ": the " + what + " name is not terminated within " + std::to_string(sizeof field) + " bytes");
  return std::string(field);
}

}  // namespace

LayerDesc read_layer_desc(const mnemo_layer_desc& d, int32_t index, const std::string& path) {
  const std::string where = "plugin describes layer " + std::to_string(index);
  auto bad = [&](const std::string& problem) { throw FormatError(path, where + ": " + problem); };
  LayerDesc L;
  try {
    L.mixer = name_field(d.mixer, "mixer", where);
    L.memory = name_field(d.memory, "memory", where);
  } catch (const Error& e) {
    throw FormatError(path, e.what());
  }
  const auto mixer = find_mixer(L.mixer);
  if (!mixer) {
    std::string known;
    for (const auto& n : mixer_kinds().names()) known += (known.empty() ? "" : ", ") + n;
    bad("mixer kind '" + L.mixer + "' is not registered (registered: " + known + ")");
  }
  if (std::find(mixer->memories.begin(), mixer->memories.end(), L.memory) == mixer->memories.end())
    bad("a '" + L.mixer + "' mixer cannot keep memory '" + L.memory + "'");
  L.mixer_id = mixer_kinds().intern(L.mixer);
  L.memory_id = memory_kinds().intern(L.memory);
  L.n_heads = d.n_heads, L.n_kv_heads = d.n_kv_heads, L.key_dim = d.key_dim, L.value_dim = d.value_dim;
  L.state_rows = d.state_rows, L.state_cols = d.state_cols;
  L.scale = d.scale, L.conv_width = d.conv_width, L.conv_channels = d.conv_channels;
  if (L.n_heads <= 0 || L.key_dim <= 0 || L.value_dim <= 0) bad("heads, key and value widths must be positive");
  if (L.keeps_kv()) {
    if (L.n_kv_heads <= 0 || L.n_heads % L.n_kv_heads != 0)
      bad(std::to_string(L.n_heads) + " heads are not a multiple of " + std::to_string(L.n_kv_heads) + " KV heads");
  }
  if (L.keeps_state() && (L.state_rows <= 0 || L.state_cols <= 0)) bad("a recurrent state needs positive rows and columns");
  if (L.conv_width < 0 || L.conv_channels < 0 || (L.conv_width > 1) != (L.conv_channels > 0))
    bad("a convolution needs both a width above 1 and channels");
  if (L.mixer == "softmax") {
    std::string mask;
    try {
      mask = name_field(d.mask, "mask", where);
    } catch (const Error& e) {
      throw FormatError(path, e.what());
    }
    const auto pattern = mask_pattern_from_name(mask);
    if (!pattern) bad("mask pattern '" + mask + "' is not known (none, causal, window)");
    mask_patterns().intern(mask);
    L.mask = Mask{*pattern, d.window};
    if (*pattern == MaskPattern::Window && d.window <= 0) bad("a window mask needs a positive window");
    // Sessions hold a segmented model's tokens under "segments"; a layer attends within a segment
    // because the host cuts segments and empties its KV memory (mnemo_segment_info), not by a mask.
    if (*pattern == MaskPattern::Segments) bad("mask 'segments' is not for layers: declare the model's segments instead");
    if (!(L.scale > 0.f)) bad("softmax needs a positive scale");
  }
  return L;
}

}  // namespace mnemo::rt

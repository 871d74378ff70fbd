// Value scales: map an array of values to [0, 1] for a colormap. Non-finite values map to NaN
// (drawn in the "bad" colour), every finite value to a number in [0, 1].
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace mnemo::profiler {

enum class ScaleKind {
  Linear,  // (v - lo) / (hi - lo), clamped
  Log,     // the same on log10(max(v, floor)): attention probabilities over many decades
  Rank,    // percentile rank: ties share the mean of their ranks; uses no range
};

struct Scale {
  ScaleKind kind = ScaleKind::Linear;
  std::optional<float> lo, hi;  // the range; the finite minimum / maximum when absent
  float log_floor = 1e-6f;      // Log: values below it (zero, negatives) count as the floor; > 0
};

std::optional<ScaleKind> scale_kind_from_name(std::string_view name);  // "linear", "log", "rank"

// Linear and log: a range with hi == lo (or no finite value) maps every finite value to 0.
// Throws UsageError for a log floor that is not positive and finite, or a range with hi < lo.
std::vector<float> normalize_linear(std::span<const float> v, std::optional<float> lo = {}, std::optional<float> hi = {});
std::vector<float> normalize_log(std::span<const float> v, float floor, std::optional<float> lo = {},
                                 std::optional<float> hi = {});
// rank(v) / (n - 1) over the n finite values, ranks from 0, ties averaged; a single value gives 0.
std::vector<float> normalize_rank(std::span<const float> v);
std::vector<float> normalize(std::span<const float> v, const Scale& scale);

}  // namespace mnemo::profiler

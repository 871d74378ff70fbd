#include "mnemo/profiler/scale.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo::profiler {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Maps finite x to (x - lo) / (hi - lo) clamped to [0, 1], in double; the range defaults to the
// finite minimum and maximum of xs.
std::vector<float> rescale(std::span<const double> xs, std::optional<double> lo, std::optional<double> hi) {
  if (!lo || !hi) {
    double mn = std::numeric_limits<double>::infinity(), mx = -mn;
    for (double x : xs) {
      if (std::isfinite(x)) {
        mn = std::min(mn, x);
        mx = std::max(mx, x);
      }
    }
    if (!lo) lo = mn;
    if (!hi) hi = mx;
  }
  std::vector<float> out(xs.size(), kNaN);
  const double span = *hi - *lo;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i])) continue;
    out[i] = span > 0 ? static_cast<float>(std::clamp((xs[i] - *lo) / span, 0.0, 1.0)) : 0.0f;
  }
  return out;
}

void check_range(std::optional<float> lo, std::optional<float> hi) {
  if ((lo && !std::isfinite(*lo)) || (hi && !std::isfinite(*hi))) throw UsageError("scale: the range must be finite");
  if (lo && hi && *hi < *lo) {
    throw UsageError("scale: the range's top (" + std::to_string(*hi) + ") is below its bottom (" + std::to_string(*lo) + ")");
  }
}

}  // namespace

std::optional<ScaleKind> scale_kind_from_name(std::string_view name) {
  if (name == "linear") return ScaleKind::Linear;
  if (name == "log") return ScaleKind::Log;
  if (name == "rank") return ScaleKind::Rank;
  return std::nullopt;
}

std::vector<float> normalize_linear(std::span<const float> v, std::optional<float> lo, std::optional<float> hi) {
  check_range(lo, hi);
  std::vector<double> xs(v.begin(), v.end());
  return rescale(xs, lo ? std::optional<double>(*lo) : std::nullopt, hi ? std::optional<double>(*hi) : std::nullopt);
}

std::vector<float> normalize_log(std::span<const float> v, float floor, std::optional<float> lo, std::optional<float> hi) {
  if (!(floor > 0.0f) || !std::isfinite(floor)) throw UsageError("scale: the log floor must be positive, not " + std::to_string(floor));
  check_range(lo, hi);
  const auto log_of = [floor](double x) { return std::log10(std::max(x, static_cast<double>(floor))); };
  std::vector<double> xs(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    xs[i] = std::isfinite(v[i]) ? log_of(v[i]) : std::numeric_limits<double>::quiet_NaN();
  }
  return rescale(xs, lo ? std::optional<double>(log_of(*lo)) : std::nullopt,
                 hi ? std::optional<double>(log_of(*hi)) : std::nullopt);
}

std::vector<float> normalize_rank(std::span<const float> v) {
  std::vector<std::size_t> order;
  order.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<float> out(v.size(), kNaN);
  const std::size_t n = order.size();
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i + 1;
    while (j < n && v[order[j]] == v[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j - 1);  // the mean of ranks i .. j-1
    const float t = n > 1 ? static_cast<float>(rank / static_cast<double>(n - 1)) : 0.0f;
    for (std::size_t k = i; k < j; ++k) out[order[k]] = t;
    i = j;
  }
  return out;
}

std::vector<float> normalize(std::span<const float> v, const Scale& scale) {
  switch (scale.kind) {
    case ScaleKind::Linear: return normalize_linear(v, scale.lo, scale.hi);
    case ScaleKind::Log: return normalize_log(v, scale.log_floor, scale.lo, scale.hi);
    case ScaleKind::Rank: return normalize_rank(v);
  }
  return {};
}

}  // namespace mnemo::profiler

#include "mnemo/viz/color_scale.h"

#include <algorithm>
#include <cmath>

#include "mnemo/core/error.h"
#include "mnemo/viz/texture_store.h"

namespace mnemo::viz {
namespace {
constexpr uint32_t kBadColor = pack_rgba(64, 64, 64);
}

ColorScale::ColorScale() { set_colormap(profiler::colormap("viridis")); }

void ColorScale::set_kind(profiler::ScaleKind k) {
  if (k == kind_) return;
  kind_ = k;
  ++version_;
}

void ColorScale::set_colormap(const profiler::Colormap& m) {
  map_ = &m;
  for (int i = 0; i < profiler::Colormap::kSize; ++i) {
    const profiler::Rgb8 c = m.entry8(i);
    lut_[i] = pack_rgba(c.r, c.g, c.b);
  }
  ++version_;
}

void ColorScale::set_range(float lo, float hi) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi))
    throw UsageError("colour range needs finite lo < hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
  if (lo == lo_ && hi == hi_) return;
  lo_ = lo, hi_ = hi;
  ++version_;
}

void ColorScale::set_log_floor(float floor) {
  if (!(floor > 0.f) || !std::isfinite(floor)) throw UsageError("log floor must be positive");
  log_floor_ = floor;
  ++version_;
}

void ColorScale::set_signed(bool is_signed) {
  if (is_signed == signed_) return;
  signed_ = is_signed;
  ++version_;
}

float ColorScale::signed_position(float v) const {
  const float m = std::max(std::abs(lo_), std::abs(hi_));
  if (!(m > 0.f)) return 0.5f;
  if (kind_ == profiler::ScaleKind::Linear) return std::clamp(0.5f + 0.5f * v / m, 0.f, 1.f);
  // Log: the magnitude's decades from the floor to m, on either side of 0.
  const float f = std::max(log_floor_, 1e-30f), a = std::log10(f), b = std::log10(std::max(m, f * 10.f));
  const float mag = std::abs(v) <= f ? 0.f : std::clamp((std::log10(std::abs(v)) - a) / (b - a), 0.f, 1.f);
  return 0.5f + 0.5f * (v < 0 ? -mag : mag);
}

void ColorScale::set_sample(std::span<const float> values) {
  sample_.clear();
  for (float v : values)
    if (std::isfinite(v)) sample_.push_back(v);
  std::sort(sample_.begin(), sample_.end());
  if (!sample_.empty() && sample_.back() > sample_.front()) {
    lo_ = sample_.front();
    hi_ = sample_.back();
  }
  ++version_;
}

float ColorScale::position(float v) const {
  if (!std::isfinite(v)) return NAN;
  if (is_signed()) return signed_position(v);
  switch (kind_) {
    case profiler::ScaleKind::Linear:
      return std::clamp((v - lo_) / (hi_ - lo_), 0.f, 1.f);
    case profiler::ScaleKind::Log: {
      const float f = std::max(log_floor_, 1e-30f);
      const float a = std::log10(std::max(lo_, f)), b = std::log10(std::max(hi_, f * 10.f));
      return std::clamp((std::log10(std::max(v, f)) - a) / (b - a), 0.f, 1.f);
    }
    case profiler::ScaleKind::Rank: {
      if (sample_.size() < 2) return std::clamp((v - lo_) / (hi_ - lo_), 0.f, 1.f);
      // Ties share the middle of their ranks, as profiler::normalize_rank does.
      const auto lower = std::lower_bound(sample_.begin(), sample_.end(), v);
      const auto upper = std::upper_bound(lower, sample_.end(), v);
      const double rank = 0.5 * (static_cast<double>(lower - sample_.begin()) + static_cast<double>(upper - sample_.begin()) - 1);
      return std::clamp(static_cast<float>(rank / static_cast<double>(sample_.size() - 1)), 0.f, 1.f);
    }
  }
  return NAN;
}

uint32_t ColorScale::color(float v) const {
  if (is_signed()) return std::isfinite(v) ? diverging_color(2.f * signed_position(v) - 1.f) : kBadColor;
  const float t = position(v);
  return std::isnan(t) ? kBadColor : lut_[profiler::Colormap::index(t)];
}

void ColorScale::colorize(std::span<const float> values, std::span<uint32_t> out) const {
  const size_t n = std::min(values.size(), out.size());
  if (kind_ == profiler::ScaleKind::Linear && !is_signed()) {
    // The hot path of a pan: one multiply-add per cell.
    const float inv = 1.f / (hi_ - lo_);
    for (size_t i = 0; i < n; ++i) {
      const float v = values[i];
      out[i] = std::isfinite(v) ? lut_[profiler::Colormap::index(std::clamp((v - lo_) * inv, 0.f, 1.f))] : kBadColor;
    }
    return;
  }
  for (size_t i = 0; i < n; ++i) out[i] = color(values[i]);
}

float ColorScale::value_at(float t) const {
  t = std::clamp(t, 0.f, 1.f);
  if (is_signed()) {
    const float m = std::max(std::abs(lo_), std::abs(hi_)), u = 2.f * t - 1.f;
    if (kind_ == profiler::ScaleKind::Linear) return u * m;
    if (u == 0.f) return 0.f;
    const float f = std::max(log_floor_, 1e-30f), a = std::log10(f), b = std::log10(std::max(m, f * 10.f));
    const float mag = std::pow(10.f, a + std::abs(u) * (b - a));
    return u < 0 ? -mag : mag;
  }
  switch (kind_) {
    case profiler::ScaleKind::Linear:
      return lo_ + t * (hi_ - lo_);
    case profiler::ScaleKind::Log: {
      const float f = std::max(log_floor_, 1e-30f);
      const float a = std::log10(std::max(lo_, f)), b = std::log10(std::max(hi_, f * 10.f));
      return std::pow(10.f, a + t * (b - a));
    }
    case profiler::ScaleKind::Rank:
      if (sample_.empty()) return lo_ + t * (hi_ - lo_);
      return sample_[static_cast<size_t>(std::lround(t * static_cast<float>(sample_.size() - 1)))];
  }
  return 0.f;
}

uint32_t diverging_color(float t) {
  // RdBu, 11 classes, from blue to red.
  static constexpr uint8_t stops[11][3] = {{5, 48, 97},    {33, 102, 172},  {67, 147, 195},  {146, 197, 222},
                                           {209, 229, 240}, {247, 247, 247}, {253, 219, 199}, {244, 165, 130},
                                           {214, 96, 77},   {178, 24, 43},   {103, 0, 31}};
  if (std::isnan(t)) return kBadColor;
  const float x = (std::clamp(t, -1.f, 1.f) + 1.f) * 5.f;  // 0 .. 10
  const int i = std::min(9, static_cast<int>(x));
  const float f = x - static_cast<float>(i);
  auto mix = [&](int c) { return static_cast<uint8_t>(std::lround(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]))); };
  return pack_rgba(mix(0), mix(1), mix(2));
}

const char* ColorScale::kind_name(profiler::ScaleKind k) {
  switch (k) {
    case profiler::ScaleKind::Linear: return "linear";
    case profiler::ScaleKind::Log: return "log";
    case profiler::ScaleKind::Rank: return "rank";
  }
  return "?";
}

}  // namespace mnemo::viz

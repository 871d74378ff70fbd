// Writes the .npy and .png files that check_npy.py and check_png.py verify with numpy and Pillow,
// and prints .npy files numpy wrote so the script can compare them with what numpy holds.
//   image_export_tool write-npy DIR | read-npy FILE | write-png DIR
// The contents follow simple formulas of the flat index i that the scripts repeat.
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/profiler/npy.h"
#include "mnemo/profiler/png.h"

using namespace mnemo::profiler;

namespace {

uint64_t product(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

void write_npys(const std::string& dir) {
  {
    const std::vector<uint64_t> shape = {2, 3, 4};
    std::vector<float> v(product(shape));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = (static_cast<float>(i) - 7.0f) * 0.125f;
    write_npy(dir + "/f32_2x3x4.npy", shape, std::span<const float>(v));
  }
  {
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> v = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, -0.0f, 1e-45f, 3.4e38f};
    write_npy(dir + "/f32_special.npy", std::vector<uint64_t>{6}, std::span<const float>(v));
  }
  write_npy(dir + "/f32_scalar.npy", std::vector<uint64_t>{}, std::span<const float>(std::vector<float>{2.5f}));
  write_npy(dir + "/f32_empty.npy", std::vector<uint64_t>{0, 5}, std::span<const float>());
  {
    std::vector<uint16_t> v(5);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = mnemo::f32_to_fp16((static_cast<float>(i) - 2.0f) * 0.5f);
    write_npy_f16(dir + "/f16_5.npy", std::vector<uint64_t>{5}, v);
  }
  {
    std::vector<int32_t> v(9);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int32_t>(i) * 1000003 - 5000000;
    write_npy(dir + "/i32_3x3.npy", std::vector<uint64_t>{3, 3}, std::span<const int32_t>(v));
  }
  {
    const std::vector<uint64_t> shape = {2, 2, 2, 2, 2};
    std::vector<int64_t> v(product(shape));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = (static_cast<int64_t>(i) - 3) * 3000000000123LL;
    write_npy(dir + "/i64_2x2x2x2x2.npy", shape, std::span<const int64_t>(v));
  }
  {
    std::vector<uint8_t> v(28);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 37) % 256);
    write_npy(dir + "/u8_4x7.npy", std::vector<uint64_t>{4, 7}, std::span<const uint8_t>(v));
  }
}

// dtype, shape and every value on its own line: floats with 9 significant digits (exact for
// float32), integers as they are.
void print_npy(const std::string& path) {
  const NpyArray a = read_npy(path);
  std::printf("%s\n", std::string(npy_type_name(a.type)).c_str());
  for (std::size_t i = 0; i < a.shape.size(); ++i) std::printf("%s%llu", i ? "," : "", static_cast<unsigned long long>(a.shape[i]));
  std::printf("\n");
  switch (a.type) {
    case NpyType::F32:
    case NpyType::F16:
      for (float v : a.to_f32()) std::printf("%.9g\n", static_cast<double>(v));
      break;
    case NpyType::I32: for (int32_t v : a.as<int32_t>()) std::printf("%d\n", v); break;
    case NpyType::I64: for (int64_t v : a.as<int64_t>()) std::printf("%lld\n", static_cast<long long>(v)); break;
    case NpyType::U8: for (uint8_t v : a.as<uint8_t>()) std::printf("%u\n", v); break;
  }
}

void write_pngs(const std::string& dir) {
  {  // RGB and RGBA gradients: pixel (x, y) = (x * 7, y * 11, x + y [, 255 - x])
    for (uint32_t channels : {3u, 4u}) {
      Image img(37, 23, channels);
      for (uint32_t y = 0; y < img.height; ++y) {
        for (uint32_t x = 0; x < img.width; ++x) {
          uint8_t* p = img.at(x, y);
          p[0] = static_cast<uint8_t>(x * 7);
          p[1] = static_cast<uint8_t>(y * 11);
          p[2] = static_cast<uint8_t>(x + y);
          if (channels == 4) p[3] = static_cast<uint8_t>(255 - x);
        }
      }
      write_png(dir + (channels == 3 ? "/gradient_rgb.png" : "/gradient_rgba.png"), img);
    }
  }
  {  // linear: a 16 x 16 matrix whose cell k holds k + 0.5 over [0, 256]: entry k exactly
    std::vector<float> v(256);
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<float>(k) + 0.5f;
    v[17] = std::numeric_limits<float>::quiet_NaN();
    HeatmapOptions o;
    o.colormap = "viridis";
    o.scale = {ScaleKind::Linear, 0.0f, 256.0f};
    o.upscale = 3;
    o.colorbar = true;
    write_heatmap_png(dir + "/linear_viridis.png", v, 16, 16, o);
  }
  {  // log: 10^(-4 + 4 (k + 0.5) / 256) over [1e-4, 1] with floor 1e-4: entry k; then below-floor values
    std::vector<float> v(256 + 4);
    for (std::size_t k = 0; k < 256; ++k) v[k] = static_cast<float>(std::pow(10.0, -4.0 + 4.0 * (static_cast<double>(k) + 0.5) / 256.0));
    v[256] = 0.0f;
    v[257] = -1.0f;
    v[258] = 1e-9f;
    v[259] = 5.0f;
    HeatmapOptions o;
    o.colormap = "magma";
    o.scale = {ScaleKind::Log, 1e-4f, 1.0f, 1e-4f};
    write_heatmap_png(dir + "/log_magma.png", v, 20, 13, o);
  }
  {  // rank with ties: [3, 1, 3, 7, 2] → 0.625, 0, 0.625, 1, 0.25
    const std::vector<float> v = {3, 1, 3, 7, 2};
    HeatmapOptions o;
    o.colormap = "cividis";
    o.scale.kind = ScaleKind::Rank;
    o.upscale = 2;
    write_heatmap_png(dir + "/rank_cividis.png", v, 1, 5, o);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc == 3 ? argv[1] : "";
    if (cmd == "write-npy") {
      write_npys(argv[2]);
    } else if (cmd == "read-npy") {
      print_npy(argv[2]);
    } else if (cmd == "write-png") {
      write_pngs(argv[2]);
    } else {
      std::fprintf(stderr, "usage: image_export_tool write-npy DIR | read-npy FILE | write-png DIR\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "image_export_tool: %s\n", e.what());
    return 1;
  }
  return 0;
}

// PNG encoder structure (signature, chunk CRCs, IHDR, the zlib stream's scanlines) and heatmap
// layout. Pillow checks the same files independently in check_png.py.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/profiler/png.h"

using namespace mnemo::profiler;

namespace {

uint32_t be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

struct Chunk {
  std::string type;
  std::vector<uint8_t> data;
};

std::vector<Chunk> chunks(const std::vector<uint8_t>& png) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(png.size() >= 8 && std::equal(sig, sig + 8, png.begin()));
  std::vector<Chunk> out;
  std::size_t off = 8;
  while (off + 12 <= png.size()) {
    const uint32_t len = be32(&png[off]);
    Chunk c{std::string(png.begin() + off + 4, png.begin() + off + 8), {}};
    c.data.assign(png.begin() + off + 8, png.begin() + off + 8 + len);
    EXPECT_EQ(be32(&png[off + 8 + len]), crc32(0, &png[off + 4], len + 4)) << c.type;
    out.push_back(std::move(c));
    off += 12 + len;
  }
  EXPECT_EQ(off, png.size());
  return out;
}

}  // namespace

TEST(Png, EncoderWritesValidChunksAndScanlines) {
  for (uint32_t channels : {3u, 4u}) {
    Image img(5, 3, channels);
    for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 13);
    const auto cs = chunks(encode_png(img));
    ASSERT_EQ(cs.size(), 3u);
    EXPECT_EQ(cs[0].type, "IHDR");
    EXPECT_EQ(be32(&cs[0].data[0]), 5u);
    EXPECT_EQ(be32(&cs[0].data[4]), 3u);
    EXPECT_EQ(cs[0].data[8], 8);
    EXPECT_EQ(cs[0].data[9], channels == 4 ? 6 : 2);
    EXPECT_EQ(cs[1].type, "IDAT");
    EXPECT_EQ(cs[2].type, "IEND");
    std::vector<uint8_t> raw((5 * channels + 1) * 3);
    uLongf n = raw.size();
    ASSERT_EQ(uncompress(raw.data(), &n, cs[1].data.data(), cs[1].data.size()), Z_OK);
    ASSERT_EQ(n, raw.size());
    for (uint32_t y = 0; y < 3; ++y) {
      EXPECT_EQ(raw[y * (5 * channels + 1)], 0);  // filter type none
      EXPECT_TRUE(std::equal(img.pixels.begin() + y * 5 * channels, img.pixels.begin() + (y + 1) * 5 * channels,
                             raw.begin() + y * (5 * channels + 1) + 1));
    }
  }
}

TEST(Png, RefusesBadImages) {
  EXPECT_THROW(Image(0, 4, 3), mnemo::UsageError);
  EXPECT_THROW(Image(4, 4, 2), mnemo::UsageError);
  Image img(2, 2, 3);
  img.pixels.pop_back();
  EXPECT_THROW(encode_png(img), mnemo::UsageError);
  const auto dir = std::filesystem::path(MNEMO_BINARY_DIR) / "tests" / "image" / "no_such_dir" / "x.png";
  EXPECT_THROW(write_png(dir.string(), Image(1, 1, 3)), mnemo::Error);
}

TEST(Heatmap, LayoutUpscaleAndColourBar) {
  const std::vector<float> v = {0, 1, 2, 3, 4, std::numeric_limits<float>::quiet_NaN()};
  HeatmapOptions o;
  o.upscale = 4;
  Image img = render_heatmap(v, 2, 3, o);
  EXPECT_EQ(img.width, 12u);
  EXPECT_EQ(img.height, 8u);
  const Colormap& viridis = colormap("viridis");
  const auto px = [&](uint32_t x, uint32_t y) { return Rgb8{img.at(x, y)[0], img.at(x, y)[1], img.at(x, y)[2]}; };
  EXPECT_EQ(px(0, 0), viridis.map(0.0f));
  EXPECT_EQ(px(3, 3), viridis.map(0.0f));  // the same cell, upscaled
  EXPECT_EQ(px(4, 0), viridis.map(0.25f));
  EXPECT_EQ(px(11, 4), o.bad);             // NaN
  EXPECT_EQ(px(7, 7), viridis.map(1.0f));  // 4 is the maximum

  o.colorbar = true;
  o.colormap = "inferno";
  img = render_heatmap(v, 2, 3, o);
  EXPECT_EQ(img.width, 12u + o.colorbar_gap + o.colorbar_width);
  EXPECT_EQ(px(12, 0), o.background);
  EXPECT_EQ(px(img.width - 1, 0), colormap("inferno").entry8(255));
  EXPECT_EQ(px(img.width - 1, 7), colormap("inferno").entry8(0));
}

TEST(Heatmap, RefusesBadInput) {
  const std::vector<float> v(6);
  EXPECT_THROW(render_heatmap(v, 2, 2), mnemo::UsageError);
  EXPECT_THROW(render_heatmap(v, 0, 6), mnemo::UsageError);
  HeatmapOptions o;
  o.colormap = "rainbow";
  EXPECT_THROW(render_heatmap(v, 2, 3, o), mnemo::UsageError);
  o = {};
  o.upscale = 0;
  EXPECT_THROW(render_heatmap(v, 2, 3, o), mnemo::UsageError);
  o.upscale = 100000;
  EXPECT_THROW(render_heatmap(v, 2, 3, o), mnemo::UsageError);
}

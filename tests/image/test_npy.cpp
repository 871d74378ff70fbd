// .npy writer and reader: round trips per dtype and rank, the exact header numpy 1.24 writes, and
// a table of bad files that must each give one FormatError naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"
#include "mnemo/profiler/npy.h"

namespace fs = std::filesystem;
using namespace mnemo::profiler;

namespace {

fs::path temp_dir() {
  const fs::path dir = fs::path(MNEMO_BINARY_DIR) / "tests" / "image" / "npy_gtest";
  fs::create_directories(dir);
  return dir;
}

std::string read_all(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <class T>
std::vector<T> pattern(std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<T>(static_cast<long long>(i * 2654435761u % 1000) - 500);
  return v;
}

}  // namespace

TEST(Npy, HeaderMatchesNumpy) {
  // Bytes numpy 1.24's np.save writes (format.py: room for 21 digits on axis 0, pad to 64, '\n').
  const std::string want =
      std::string("\x93NUMPY\x01\x00\x76\x00", 10) + "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
      std::string(58, ' ') + "\n";
  const std::vector<uint64_t> shape = {2, 3};
  EXPECT_EQ(npy_header(NpyType::F32, shape), want);
  EXPECT_EQ(npy_header(NpyType::U8, std::vector<uint64_t>{0, 5}).substr(10, 59),
            "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 5), }");
  EXPECT_NE(npy_header(NpyType::F16, std::vector<uint64_t>{5}).find("'shape': (5,), }"), std::string::npos);
  EXPECT_NE(npy_header(NpyType::I64, std::vector<uint64_t>{}).find("'shape': (), }"), std::string::npos);
  // Where numpy's room for axis 0 to grow pushes the header past a 64-byte boundary (from
  // numpy.lib.format._write_array_header): 192 bytes, where plain padding would give 128.
  const std::string grown = npy_header(NpyType::F32, std::vector<uint64_t>{1, 1000000000000, 1000000000000, 1000000000000, 7});
  EXPECT_EQ(grown.size(), 192u);
  EXPECT_EQ(grown.substr(10, 104) + "|" + grown.substr(114),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1000000000000, 1000000000000, 1000000000000, 7), }|" +
                std::string(77, ' ') + "\n");
  EXPECT_EQ(npy_header(NpyType::F32, std::vector<uint64_t>(20, 3)).size(), 192u);
  for (std::size_t rank = 0; rank < 40; ++rank) {
    const std::vector<uint64_t> s(rank, 123456789);
    const std::string h = npy_header(NpyType::I32, s);
    EXPECT_EQ(h.size() % 64, 0u) << rank;
    EXPECT_EQ(h.back(), '\n');
    EXPECT_EQ(static_cast<std::size_t>(static_cast<uint8_t>(h[8]) | static_cast<uint8_t>(h[9]) << 8), h.size() - 10);
  }
}

TEST(Npy, RoundTripEveryTypeAndRank) {
  const fs::path dir = temp_dir();
  const std::vector<std::vector<uint64_t>> shapes = {{}, {7}, {3, 5}, {2, 3, 4}, {2, 1, 3, 2}, {1, 2, 2, 2, 3}, {4, 0, 2}};
  for (const auto& shape : shapes) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    const std::string stem = (dir / ("rank" + std::to_string(shape.size()) + "_n" + std::to_string(n))).string();

    const auto f32 = pattern<float>(n);
    write_npy(stem + "_f32.npy", shape, std::span<const float>(f32));
    NpyArray a = read_npy(stem + "_f32.npy");
    EXPECT_EQ(a.type, NpyType::F32);
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.count(), n);
    EXPECT_TRUE(std::equal(f32.begin(), f32.end(), a.as<float>().begin(), a.as<float>().end()));

    std::vector<uint16_t> f16(n);
    for (std::size_t i = 0; i < n; ++i) f16[i] = mnemo::f32_to_fp16(f32[i] * 0.25f);
    write_npy_f16(stem + "_f16.npy", shape, f16);
    a = read_npy(stem + "_f16.npy");
    EXPECT_EQ(a.type, NpyType::F16);
    EXPECT_TRUE(std::equal(f16.begin(), f16.end(), a.as<uint16_t>().begin(), a.as<uint16_t>().end()));
    const std::vector<float> back = a.to_f32();
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(back[i], f32[i] * 0.25f);

    const auto i32 = pattern<int32_t>(n);
    write_npy(stem + "_i32.npy", shape, std::span<const int32_t>(i32));
    a = read_npy(stem + "_i32.npy");
    EXPECT_TRUE(std::equal(i32.begin(), i32.end(), a.as<int32_t>().begin(), a.as<int32_t>().end()));

    auto i64 = pattern<int64_t>(n);
    for (auto& v : i64) v *= 1'000'000'007'000LL;
    write_npy(stem + "_i64.npy", shape, std::span<const int64_t>(i64));
    a = read_npy(stem + "_i64.npy");
    EXPECT_TRUE(std::equal(i64.begin(), i64.end(), a.as<int64_t>().begin(), a.as<int64_t>().end()));

    const auto u8 = pattern<uint8_t>(n);
    write_npy(stem + "_u8.npy", shape, std::span<const uint8_t>(u8));
    a = read_npy(stem + "_u8.npy");
    EXPECT_EQ(a.type, NpyType::U8);
    EXPECT_TRUE(std::equal(u8.begin(), u8.end(), a.as<uint8_t>().begin(), a.as<uint8_t>().end()));

    // The file is header + data, nothing else, and parse_npy agrees with read_npy.
    const std::string bytes = read_all(stem + "_u8.npy");
    EXPECT_EQ(bytes.size(), npy_header(NpyType::U8, shape).size() + n);
    const NpyArray b = parse_npy(std::as_bytes(std::span(bytes.data(), bytes.size())), "mem");
    EXPECT_EQ(b.shape, shape);
    EXPECT_EQ(b.data, a.data);
  }
}

TEST(Npy, SpecialFloatsKeepTheirBits) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> v = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, -0.0f, 1e-45f};
  const std::string path = (temp_dir() / "special.npy").string();
  write_npy(path, std::vector<uint64_t>{v.size()}, std::span<const float>(v));
  const NpyArray a = read_npy(path);
  EXPECT_EQ(std::memcmp(a.data.data(), v.data(), v.size() * 4), 0);
}

TEST(Npy, WriterRefusesMismatchedData) {
  const std::vector<float> v(5);
  const std::string path = (temp_dir() / "mismatch.npy").string();
  EXPECT_THROW(write_npy(path, std::vector<uint64_t>{2, 3}, std::span<const float>(v)), mnemo::UsageError);
  EXPECT_THROW(write_npy(path, std::vector<uint64_t>{uint64_t{1} << 62, 8}, std::span<const float>(v)), mnemo::UsageError);
  EXPECT_THROW(write_npy((temp_dir() / "no_such_dir" / "x.npy").string(), std::vector<uint64_t>{5}, std::span<const float>(v)),
               mnemo::Error);
  const NpyArray a{NpyType::I32, {1}, std::vector<std::byte>(4)};
  EXPECT_THROW(a.as<float>(), mnemo::UsageError);
}

namespace {

// A file: version, header text (length computed unless given) and `data_bytes` zero bytes.
std::string npy_bytes(const std::string& dict, std::size_t data_bytes, int major = 1, long long header_len = -1) {
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  const auto len = static_cast<uint64_t>(header_len < 0 ? static_cast<long long>(dict.size()) : header_len);
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + dict + std::string(data_bytes, '\0');
}

std::string dict(const std::string& descr, const std::string& fortran, const std::string& shape) {
  return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

struct BadFile {
  const char* name;
  std::string bytes;
  const char* problem;  // a fragment the message must contain
};

}  // namespace

TEST(Npy, BadFilesGiveOneClearError) {
  const std::string ok = dict("'<f4'", "False", "(2, 3)");
  const std::vector<BadFile> cases = {
      {"empty", "", "not a .npy file"},
      {"bad_magic", "\x93NUMPX\x01\x00\x10\x00", "not a .npy file"},
      {"text_file", "descr,shape\n1,2\n", "not a .npy file"},
      {"cut_preamble", std::string("\x93NUMPY\x01", 7), "ends inside the preamble"},
      {"version_4", npy_bytes(ok, 24, 4), "unsupported .npy version 4.0"},
      {"version_1_1", [&] { auto b = npy_bytes(ok, 24); b[7] = 1; return b; }(), "unsupported .npy version 1.1"},
      {"header_past_end", npy_bytes(ok, 0, 1, 4000), "ends inside the header"},
      {"huge_header_v2", npy_bytes(ok, 24, 2, 0xffffffffLL), "bytes long"},
      {"no_newline", npy_bytes(ok.substr(0, ok.size() - 1), 24), "does not end with a newline"},
      {"not_a_dict", npy_bytes("['<f4', False, (2, 3)]\n", 24), "expected '{'"},
      {"unquoted_key", npy_bytes("{descr: '<f4'}\n", 24), "quoted string"},
      {"missing_shape", npy_bytes("{'descr': '<f4', 'fortran_order': False}\n", 24), "no 'shape'"},
      {"missing_descr", npy_bytes("{'fortran_order': False, 'shape': (2, 3)}\n", 24), "no 'descr'"},
      {"duplicate_key", npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}\n", 24),
       "duplicate key 'descr'"},
      {"unknown_key", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}\n", 24),
       "unexpected key 'x'"},
      {"fortran_order", npy_bytes(dict("'<f4'", "True", "(2, 3)"), 24), "Fortran-order"},
      {"fortran_not_bool", npy_bytes(dict("'<f4'", "1", "(2, 3)"), 24), "True or False"},
      {"float64", npy_bytes(dict("'<f8'", "False", "(2, 3)"), 48), "unsupported dtype '<f8'"},
      {"big_endian", npy_bytes(dict("'>f4'", "False", "(2, 3)"), 24), "big-endian"},
      {"structured", npy_bytes(dict("[('a', '<f4')]", "False", "(2, 3)"), 24), "structured"},
      {"shape_not_tuple", npy_bytes(dict("'<f4'", "False", "(6)"), 24), "trailing comma"},
      {"shape_negative", npy_bytes(dict("'<f4'", "False", "(-1, 3)"), 24), "non-negative integer"},
      {"shape_float", npy_bytes(dict("'<f4'", "False", "(2.5, 3)"), 24), "expected ',' or ')'"},
      {"shape_unclosed", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3\n", 24), "ends early"},
      {"shape_overflow", npy_bytes(dict("'<f4'", "False", "(4294967296, 4294967296)"), 24), "overflows"},
      {"bytes_overflow", npy_bytes(dict("'<f4'", "False", "(4611686018427387904,)"), 24), "overflows"},
      {"dim_over_64_bits", npy_bytes(dict("'<f4'", "False", "(99999999999999999999999,)"), 24), "overflows 64 bits"},
      {"text_after_dict", npy_bytes(ok.substr(0, ok.size() - 1) + " x\n", 24), "after the header dict"},
      {"data_short", npy_bytes(ok, 23), "truncated .npy data: the shape needs 24 bytes, the file has 23"},
      {"data_long", npy_bytes(ok, 25), "oversized"},
  };
  // The table's base case is itself a good file.
  const std::string good = npy_bytes(ok, 24);
  EXPECT_EQ(parse_npy(std::as_bytes(std::span(good.data(), good.size())), "ok").count(), 6u);
  const fs::path dir = temp_dir();
  for (const BadFile& c : cases) {
    const std::string path = (dir / (std::string("bad_") + c.name + ".npy")).string();
    write_all(path, c.bytes);
    for (int from_memory = 0; from_memory < 2; ++from_memory) {
      try {
        if (from_memory) {
          parse_npy(std::as_bytes(std::span(c.bytes.data(), c.bytes.size())), path);
        } else {
          read_npy(path);
        }
        ADD_FAILURE() << c.name << ": no error";
      } catch (const mnemo::FormatError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(e.path(), path) << c.name;
        EXPECT_NE(msg.find(path), std::string::npos) << c.name << ": " << msg;
        EXPECT_NE(msg.find(c.problem), std::string::npos) << c.name << ": " << msg;
      }
    }
  }
}

TEST(Npy, MissingFileIsAnError) {
  EXPECT_THROW(read_npy((temp_dir() / "does_not_exist.npy").string()), mnemo::Error);
}

#include "mnemo/profiler/npy.h"

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "mnemo/core/error.h"
#include "mnemo/core/fp16.h"

namespace mnemo::profiler {

static_assert(std::endian::native == std::endian::little, ".npy data is written in native order");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLen = 6;
constexpr std::size_t kAlign = 64;                  // numpy's ARRAY_ALIGN
constexpr std::size_t kGrowthAxisDigits = 21;      // numpy's GROWTH_AXIS_MAX_DIGITS
constexpr uint64_t kMaxHeaderLen = uint64_t{1} << 20;  // a sane dict is far shorter

struct Header {
  NpyType type;
  std::vector<uint64_t> shape;
  uint64_t data_bytes;
};

// A parser for the one dict numpy writes: {'descr': str, 'fortran_order': bool, 'shape': tuple}.
class DictParser {
 public:
  DictParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  Header parse() {
    skip_ws();
    expect('{');
    std::optional<std::string> descr;
    std::optional<bool> fortran;
    std::optional<std::vector<uint64_t>> shape;
    skip_ws();
    while (peek() != '}') {
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        if (descr) fail("duplicate key 'descr'");
        if (peek() == '[') fail("structured dtypes are not supported");
        descr = string_literal();
      } else if (key == "fortran_order") {
        if (fortran) fail("duplicate key 'fortran_order'");
        fortran = boolean();
      } else if (key == "shape") {
        if (shape) fail("duplicate key 'shape'");
        shape = tuple();
      } else {
        fail("unexpected key '" + key + "' in the header dict");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != '}') {
        fail("expected ',' or '}' in the header dict");
      }
    }
    ++pos_;
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
    if (pos_ != s_.size()) fail("unexpected text after the header dict");
    if (!descr) fail("the header dict has no 'descr'");
    if (!fortran) fail("the header dict has no 'fortran_order'");
    if (!shape) fail("the header dict has no 'shape'");
    if (*fortran) fail("Fortran-order arrays are not supported");
    Header h{dtype(*descr), std::move(*shape), 0};
    uint64_t count = 1;
    for (uint64_t d : h.shape) {
      if (__builtin_mul_overflow(count, d, &count)) fail("the shape's element count overflows");
    }
    if (__builtin_mul_overflow(count, uint64_t{npy_type_size(h.type)}, &h.data_bytes)) {
      fail("the shape's size in bytes overflows");
    }
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw FormatError(name_, "bad .npy header: " + problem);
  }
  char peek() const {
    if (pos_ >= s_.size()) fail("the header dict ends early");
    return s_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "' at offset " + std::to_string(pos_) + " of the header");
    ++pos_;
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string at offset " + std::to_string(pos_) + " of the header");
    ++pos_;
    std::string out;
    while (peek() != q) {
      if (s_[pos_] == '\\' || static_cast<unsigned char>(s_[pos_]) < 0x20) fail("unsupported character in a header string");
      out += s_[pos_++];
      if (out.size() > 64) fail("a header string is too long");
    }
    ++pos_;
    return out;
  }
  bool boolean() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' must be True or False");
  }
  uint64_t integer() {
    if (peek() < '0' || peek() > '9') fail("a shape entry must be a non-negative integer");
    uint64_t v = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (__builtin_mul_overflow(v, uint64_t{10}, &v) || __builtin_add_overflow(v, uint64_t(s_[pos_] - '0'), &v)) {
        fail("a shape entry overflows 64 bits");
      }
      ++pos_;
    }
    return v;
  }
  std::vector<uint64_t> tuple() {
    expect('(');
    std::vector<uint64_t> dims;
    skip_ws();
    bool trailing_comma = false;
    while (peek() != ')') {
      dims.push_back(integer());
      if (dims.size() > 64) fail("more than 64 dimensions");
      skip_ws();
      trailing_comma = false;
      if (peek() == ',') {
        ++pos_;
        trailing_comma = true;
        skip_ws();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in 'shape'");
      }
    }
    ++pos_;
    if (dims.size() == 1 && !trailing_comma) fail("'shape' is not a tuple: a 1-D shape needs a trailing comma");
    return dims;
  }
  NpyType dtype(const std::string& d) const {
    for (NpyType t : {NpyType::F32, NpyType::F16, NpyType::I32, NpyType::I64, NpyType::U8}) {
      if (d == npy_descr(t)) return t;
    }
    if (d == "<u1") return NpyType::U8;
    if (!d.empty() && d[0] == '>') fail("big-endian dtype '" + d + "' is not supported");
    fail("unsupported dtype '" + d + "' (supported: <f4, <f2, <i4, <i8, |u1)");
  }

  std::string_view s_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

struct Preamble {
  std::size_t prefix_len;  // magic + version + length field
  uint64_t header_len;
};

// Reads magic, version and header length from the first bytes (at least 12 or the whole file).
Preamble parse_preamble(std::span<const std::byte> b, const std::string& name) {
  if (b.size() < kMagicLen + 4 || std::memcmp(b.data(), kMagic, kMagicLen) != 0) {
    if (b.size() >= kMagicLen && std::memcmp(b.data(), kMagic, kMagicLen) == 0) {
      throw FormatError(name, "truncated .npy file: it ends inside the preamble");
    }
    throw FormatError(name, "not a .npy file (the magic \\x93NUMPY is missing)");
  }
  const auto major = static_cast<unsigned>(b[6]);
  const auto minor = static_cast<unsigned>(b[7]);
  const auto byte = [&](std::size_t i) { return static_cast<uint64_t>(static_cast<uint8_t>(b[i])); };
  if (major == 1 && minor == 0) return {10, byte(8) | byte(9) << 8};
  if ((major == 2 || major == 3) && minor == 0) {
    if (b.size() < 12) throw FormatError(name, "truncated .npy file: it ends inside the preamble");
    return {12, byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24};
  }
  throw FormatError(name, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor) +
                              " (supported: 1.0, 2.0, 3.0)");
}

Header parse_dict(std::string_view text, const std::string& name) {
  if (text.empty() || text.back() != '\n') throw FormatError(name, "bad .npy header: it does not end with a newline");
  return DictParser(text, name).parse();
}

void check_sizes(const Preamble& p, const Header& h, uint64_t file_size, const std::string& name) {
  const uint64_t offset = p.prefix_len + p.header_len;
  const uint64_t have = file_size - offset;  // offset <= file_size checked by the caller
  if (have != h.data_bytes) {
    throw FormatError(name, std::string(have < h.data_bytes ? "truncated" : "oversized") + " .npy data: the shape needs " +
                                std::to_string(h.data_bytes) + " bytes, the file has " + std::to_string(have));
  }
}

}  // namespace

std::size_t npy_type_size(NpyType t) {
  switch (t) {
    case NpyType::F32: return 4;
    case NpyType::F16: return 2;
    case NpyType::I32: return 4;
    case NpyType::I64: return 8;
    case NpyType::U8: return 1;
  }
  return 0;
}

std::string_view npy_descr(NpyType t) {
  switch (t) {
    case NpyType::F32: return "<f4";
    case NpyType::F16: return "<f2";
    case NpyType::I32: return "<i4";
    case NpyType::I64: return "<i8";
    case NpyType::U8: return "|u1";
  }
  return "";
}

std::string_view npy_type_name(NpyType t) {
  switch (t) {
    case NpyType::F32: return "float32";
    case NpyType::F16: return "float16";
    case NpyType::I32: return "int32";
    case NpyType::I64: return "int64";
    case NpyType::U8: return "uint8";
  }
  return "";
}

std::string npy_header(NpyType t, std::span<const uint64_t> shape) {
  std::string dict = "{'descr': '" + std::string(npy_descr(t)) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dict += (i ? ", " : "") + std::to_string(shape[i]);
  }
  dict += shape.size() == 1 ? ",), }" : "), }";
  // As numpy 1.24 writes it (numpy/lib/format.py): room for the first axis to grow to 21 digits,
  // then spaces up to the next 64-byte boundary (a whole 64 when already aligned) and '\n'.
  if (!shape.empty()) dict.append(kGrowthAxisDigits - std::to_string(shape[0]).size(), ' ');
  dict.append(kAlign - (10 + dict.size() + 1) % kAlign, ' ');
  dict += '\n';
  if (dict.size() > 0xffff) throw UsageError("npy: a header for " + std::to_string(shape.size()) + " dimensions does not fit format 1.0");
  std::string out(kMagic, kMagicLen);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

void write_npy(const std::string& path, NpyType t, std::span<const uint64_t> shape, std::span<const std::byte> data) {
  uint64_t bytes = npy_type_size(t);
  for (uint64_t d : shape) {
    if (__builtin_mul_overflow(bytes, d, &bytes)) throw UsageError("npy: " + path + ": the shape's size overflows");
  }
  if (bytes != data.size()) {
    throw UsageError("npy: " + path + ": the shape needs " + std::to_string(bytes) + " bytes of " +
                     std::string(npy_type_name(t)) + ", the data has " + std::to_string(data.size()));
  }
  const std::string header = npy_header(t, shape);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  f.close();
  if (!f) throw Error(path + ": write failed");
}

void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const float> data) {
  write_npy(path, NpyType::F32, shape, std::as_bytes(data));
}
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const int32_t> data) {
  write_npy(path, NpyType::I32, shape, std::as_bytes(data));
}
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const int64_t> data) {
  write_npy(path, NpyType::I64, shape, std::as_bytes(data));
}
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const uint8_t> data) {
  write_npy(path, NpyType::U8, shape, std::as_bytes(data));
}
void write_npy_f16(const std::string& path, std::span<const uint64_t> shape, std::span<const uint16_t> bits) {
  write_npy(path, NpyType::F16, shape, std::as_bytes(bits));
}

uint64_t NpyArray::count() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

namespace {
template <class T>
std::span<const T> typed(const NpyArray& a, NpyType want) {
  if (a.type != want) {
    throw UsageError("npy: the array holds " + std::string(npy_type_name(a.type)) + ", not " +
                     std::string(npy_type_name(want)));
  }
  return {reinterpret_cast<const T*>(a.data.data()), a.data.size() / sizeof(T)};
}
}  // namespace

template <> std::span<const float> NpyArray::as<float>() const { return typed<float>(*this, NpyType::F32); }
template <> std::span<const uint16_t> NpyArray::as<uint16_t>() const { return typed<uint16_t>(*this, NpyType::F16); }
template <> std::span<const int32_t> NpyArray::as<int32_t>() const { return typed<int32_t>(*this, NpyType::I32); }
template <> std::span<const int64_t> NpyArray::as<int64_t>() const { return typed<int64_t>(*this, NpyType::I64); }
template <> std::span<const uint8_t> NpyArray::as<uint8_t>() const { return typed<uint8_t>(*this, NpyType::U8); }

std::vector<float> NpyArray::to_f32() const {
  std::vector<float> out;
  out.reserve(count());
  switch (type) {
    case NpyType::F32: out.assign(as<float>().begin(), as<float>().end()); break;
    case NpyType::F16: for (uint16_t h : as<uint16_t>()) out.push_back(fp16_to_f32(h)); break;
    case NpyType::I32: for (int32_t v : as<int32_t>()) out.push_back(static_cast<float>(v)); break;
    case NpyType::I64: for (int64_t v : as<int64_t>()) out.push_back(static_cast<float>(v)); break;
    case NpyType::U8: for (uint8_t v : as<uint8_t>()) out.push_back(static_cast<float>(v)); break;
  }
  return out;
}

NpyArray parse_npy(std::span<const std::byte> bytes, const std::string& name) {
  const Preamble p = parse_preamble(bytes, name);
  if (p.header_len > kMaxHeaderLen) throw FormatError(name, "bad .npy header: " + std::to_string(p.header_len) + " bytes long");
  if (p.prefix_len + p.header_len > bytes.size()) throw FormatError(name, "truncated .npy file: it ends inside the header");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + p.prefix_len, p.header_len);
  Header h = parse_dict(text, name);
  check_sizes(p, h, bytes.size(), name);
  NpyArray a{h.type, std::move(h.shape), {}};
  const auto data = bytes.subspan(p.prefix_len + p.header_len);
  a.data.assign(data.begin(), data.end());
  return a;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  const auto end = f.tellg();
  if (end < 0) throw Error(path + ": cannot read its size");
  const auto file_size = static_cast<uint64_t>(end);
  f.seekg(0);
  std::byte first[12] = {};
  const std::size_t first_len = static_cast<std::size_t>(std::min<uint64_t>(file_size, sizeof first));
  f.read(reinterpret_cast<char*>(first), static_cast<std::streamsize>(first_len));
  if (!f) throw Error(path + ": read failed");
  const Preamble p = parse_preamble({first, first_len}, path);
  if (p.header_len > kMaxHeaderLen) throw FormatError(path, "bad .npy header: " + std::to_string(p.header_len) + " bytes long");
  if (p.prefix_len + p.header_len > file_size) throw FormatError(path, "truncated .npy file: it ends inside the header");
  std::string text(static_cast<std::size_t>(p.header_len), '\0');
  f.seekg(static_cast<std::streamoff>(p.prefix_len));
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (!f) throw Error(path + ": read failed");
  Header h = parse_dict(text, path);
  check_sizes(p, h, file_size, path);
  NpyArray a{h.type, std::move(h.shape), {}};
  a.data.resize(static_cast<std::size_t>(h.data_bytes));
  f.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(a.data.size()));
  if (!f) throw Error(path + ": read failed");
  return a;
}

}  // namespace mnemo::profiler

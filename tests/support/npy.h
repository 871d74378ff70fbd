// Reads float32 NumPy .npy files (version 1/2, little-endian, C order), as written by the
// Python references. Test-only: throws std::runtime_error on anything else.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace mnemo::test {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not an npy file");
  const int major = bytes[6];
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    offset = 10;
  } else {
    uint32_t n;
    std::memcpy(&n, bytes.data() + 8, 4);
    header_len = n;
    offset = 12;
  }
  const std::string header(bytes.data() + offset, header_len);
  if (header.find("'<f4'") == std::string::npos) throw std::runtime_error(path + ": not float32 little-endian");
  if (header.find("'fortran_order': False") == std::string::npos) throw std::runtime_error(path + ": not C order");
  NpyArray a;
  const size_t open = header.find("'shape': (") + 10, close = header.find(')', open);
  std::string dims = header.substr(open, close - open);
  size_t pos = 0;
  while (pos < dims.size()) {
    const size_t comma = dims.find(',', pos);
    const std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.find_first_not_of(' ') != std::string::npos) a.shape.push_back(std::stoll(item));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  int64_t n = 1;
  for (int64_t d : a.shape) n *= d;
  const size_t data_at = offset + header_len;
  if (bytes.size() - data_at != static_cast<size_t>(n) * 4) throw std::runtime_error(path + ": size does not match shape");
  a.data.resize(static_cast<size_t>(n));
  std::memcpy(a.data.data(), bytes.data() + data_at, static_cast<size_t>(n) * 4);
  return a;
}

}  // namespace mnemo::test

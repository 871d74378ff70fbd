// NumPy .npy files (format version 1.0, as numpy.save writes them): C order, little-endian, the
// header dict padded with spaces so the data starts at a multiple of 64 bytes. The reader also
// takes versions 2.0 and 3.0 (a 4-byte header length) and validates everything before allocating.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::profiler {

enum class NpyType { F32, F16, I32, I64, U8 };

std::size_t npy_type_size(NpyType t);      // bytes per element
std::string_view npy_descr(NpyType t);     // numpy's dtype.str: "<f4", "<f2", "<i4", "<i8", "|u1"
std::string_view npy_type_name(NpyType t); // "float32", "float16", "int32", "int64", "uint8"

// The header numpy.save writes for this dtype and shape: magic, version 1.0, length and the
// padded dict ending in '\n'; its size is a multiple of 64. Throws UsageError when it would not
// fit version 1.0 (a 65535-byte dict: thousands of dimensions).
std::string npy_header(NpyType t, std::span<const uint64_t> shape);

// Writes `data` (the elements in C order, native little-endian bytes; npy_type_size(t) times the
// product of `shape` bytes) to `path`. A rank-0 shape is a scalar. Throws UsageError when the
// data's size does not match the shape, Error when the file cannot be written.
void write_npy(const std::string& path, NpyType t, std::span<const uint64_t> shape,
               std::span<const std::byte> data);
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const float> data);
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const int32_t> data);
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const int64_t> data);
void write_npy(const std::string& path, std::span<const uint64_t> shape, std::span<const uint8_t> data);
// float16 elements as their IEEE binary16 bits (see mnemo/core/fp16.h).
void write_npy_f16(const std::string& path, std::span<const uint64_t> shape, std::span<const uint16_t> bits);

struct NpyArray {
  NpyType type = NpyType::F32;
  std::vector<uint64_t> shape;  // empty for a scalar
  std::vector<std::byte> data;  // the elements in C order, little-endian

  uint64_t count() const;                   // product of shape (1 for a scalar)
  template <class T> std::span<const T> as() const;  // T must match type (F16 as uint16_t)
  std::vector<float> to_f32() const;        // every type converted to float
};

template <> std::span<const float> NpyArray::as<float>() const;
template <> std::span<const uint16_t> NpyArray::as<uint16_t>() const;
template <> std::span<const int32_t> NpyArray::as<int32_t>() const;
template <> std::span<const int64_t> NpyArray::as<int64_t>() const;
template <> std::span<const uint8_t> NpyArray::as<uint8_t>() const;

// Reads an .npy file. Throws FormatError naming the file for a bad magic, an unsupported version,
// a malformed or unexpected header dict, an unsupported dtype (big-endian, other kinds),
// Fortran order, a shape whose size overflows, or data shorter or longer than the shape says.
NpyArray read_npy(const std::string& path);
// The same for bytes in memory; `name` is what errors call the source.
NpyArray parse_npy(std::span<const std::byte> bytes, const std::string& name);

}  // namespace mnemo::profiler

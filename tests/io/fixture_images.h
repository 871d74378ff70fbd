// Small valid GGUF and safetensors images built in memory, which the bad-input tests mutate one
// field at a time, and helpers for files under tests/data/io/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using Bytes = std::vector<std::byte>;

std::string io_data_dir();                       // <source>/tests/data/io
Bytes read_file_bytes(const std::string& path);  // whole file; empty when missing
void write_file_bytes(const std::string& path, const Bytes& b);

// Appends little-endian values, as both formats store them.
struct ByteWriter {
  Bytes out;
  void u8(uint8_t v) { out.push_back(static_cast<std::byte>(v)); }
  void u32(uint32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void str(const std::string& s) { u64(s.size()); raw(s.data(), s.size()); }
  void raw(const void* p, size_t n);
};

// A GGUF v3 image whose every field a test may change before build().
struct GgufSpec {
  struct Tensor {
    std::string name;
    std::vector<uint64_t> ne;  // innermost first, as in the file
    uint32_t type;
    uint64_t offset;           // relative to the data section
  };
  std::string magic = "GGUF";
  uint32_t version = 3;
  uint64_t alignment = 32;
  bool write_alignment_key = true;
  std::vector<std::pair<std::string, std::string>> strings{{"general.architecture", "llama"}};
  std::vector<Tensor> tensors{{"tok.weight", {32, 2}, 8 /*Q8_0*/, 0}, {"norm", {4}, 0 /*F32*/, 96}};
  uint64_t data_bytes = 128;
  // Overrides of the counts written in the header (to lie about them).
  int64_t tensor_count_override = -1, kv_count_override = -1;
  Bytes extra_kv;  // raw key-value pairs appended after the strings (counted in kv)
  uint64_t extra_kv_count = 0;

  Bytes build() const;
};

// A safetensors image from a header text and a data section.
Bytes safetensors_image(const std::string& header_json, size_t data_bytes);
std::string valid_safetensors_header();  // two F32 tensors [2,2] and [4] over 32 bytes

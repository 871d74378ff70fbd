#include "fixture_images.h"

#include <cstring>
#include <fstream>

std::string io_data_dir() { return std::string(MNEMO_SOURCE_DIR) + "/tests/data/io"; }

Bytes read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

void write_file_bytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void ByteWriter::raw(const void* p, size_t n) {
  const auto* c = static_cast<const std::byte*>(p);
  out.insert(out.end(), c, c + n);
}

Bytes GgufSpec::build() const {
  ByteWriter w;
  w.raw(magic.data(), magic.size());
  w.u32(version);
  const uint64_t n_kv = strings.size() + (write_alignment_key ? 1 : 0) + extra_kv_count;
  w.u64(tensor_count_override >= 0 ? static_cast<uint64_t>(tensor_count_override) : tensors.size());
  w.u64(kv_count_override >= 0 ? static_cast<uint64_t>(kv_count_override) : n_kv);
  for (const auto& [k, v] : strings) {
    w.str(k);
    w.u32(8);
    w.str(v);
  }
  if (write_alignment_key) {
    w.str("general.alignment");
    w.u32(4);
    w.u32(static_cast<uint32_t>(alignment));
  }
  w.raw(extra_kv.data(), extra_kv.size());
  for (const auto& t : tensors) {
    w.str(t.name);
    w.u32(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  const uint64_t align = alignment && (alignment & (alignment - 1)) == 0 && alignment < 4096 ? alignment : 32;
  while (w.out.size() % align) w.u8(0);
  for (uint64_t i = 0; i < data_bytes; ++i) w.u8(static_cast<uint8_t>(i));
  return w.out;
}

Bytes safetensors_image(const std::string& header_json, size_t data_bytes) {
  ByteWriter w;
  w.u64(header_json.size());
  w.raw(header_json.data(), header_json.size());
  for (size_t i = 0; i < data_bytes; ++i) w.u8(static_cast<uint8_t>(i * 7));
  return w.out;
}

std::string valid_safetensors_header() {
  return R"({"__metadata__":{"format":"pt"},)"
         R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
         R"("b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})";
}

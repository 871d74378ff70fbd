// A read-only memory map of a whole file. Model weights are used in place from the map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mnemo {

class MappedFile {
 public:
  // Throws FormatError naming the file when it cannot be opened or mapped.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, static_cast<size_t>(size_)}; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

// Reads a whole (small) text file: tokenizer and config files. Refuses files over max_bytes.
std::string read_text_file(const std::string& path, uint64_t max_bytes = uint64_t{1} << 30);

}  // namespace mnemo

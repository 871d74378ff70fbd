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

  // Reads the whole file into the page cache and maps every page now, so that code using the
  // map later never waits on the disk in a page fault (weights first touched in the middle of a
  // forward pass stall both the thread that faults and every thread waiting for it). Falls back
  // to asking the kernel for read-ahead where MADV_POPULATE_READ is unknown (Linux < 5.14).
  // Throws FormatError naming the file when it cannot be read (an I/O error, or the file shrank
  // since it was opened).
  void page_in() const;

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

// Reads a whole (small) text file: tokenizer and config files. Refuses files over max_bytes.
std::string read_text_file(const std::string& path, uint64_t max_bytes = uint64_t{1} << 30);

}  // namespace mnemo

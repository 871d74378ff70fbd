// MappedFile: the map holds the file's bytes; page_in() brings them in ahead of use and reports a
// file that shrank after it was mapped (where touching the map would kill the process with SIGBUS).
#include "mnemo/core/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo {
namespace {

std::string temp_file(const std::string& name, size_t bytes) {
  const std::string path =
      (std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()))).string();
  std::ofstream out(path, std::ios::binary);
  for (size_t i = 0; i < bytes; ++i) out.put(static_cast<char>(i * 7 + 3));
  return path;
}

TEST(MappedFile, PageInKeepsTheBytes) {
  const size_t size = 3 * 65536 + 123;
  const std::string path = temp_file("mapped_page_in", size);
  MappedFile map(path);
  map.page_in();
  ASSERT_EQ(map.size(), size);
  for (size_t i = 0; i < size; i += 4093) EXPECT_EQ(map.data()[i], static_cast<std::byte>(i * 7 + 3)) << i;
  std::filesystem::remove(path);
}

TEST(MappedFile, PageInOfAnEmptyFileDoesNothing) {
  const std::string path = temp_file("mapped_empty", 0);
  MappedFile map(path);
  EXPECT_NO_THROW(map.page_in());
  std::filesystem::remove(path);
}

TEST(MappedFile, AFileThatShrankAfterMappingIsAnErrorNamingIt) {
  const std::string path = temp_file("mapped_shrunk", 8 * 4096);
  MappedFile map(path);
  std::filesystem::resize_file(path, 4096);
  try {
    map.page_in();
    // Kernels before 5.14 only start read-ahead and cannot tell; nothing to check there.
    GTEST_SKIP() << "MADV_POPULATE_READ unsupported by this kernel";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shorter"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace mnemo

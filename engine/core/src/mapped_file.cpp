#include "mnemo/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mnemo/core/error.h"

namespace mnemo {
namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text() { return std::strerror(errno); }

}  // namespace

MappedFile::MappedFile(std::string path) : path_(std::move(path)) {
  Fd f{::open(path_.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw FormatError(path_, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw FormatError(path_, "cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) throw FormatError(path_, "not a regular file");
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ == 0) return;  // an empty file maps to nothing; parsers report it as truncated
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) throw FormatError(path_, "cannot map: " + errno_text());
  data_ = static_cast<const std::byte*>(p);
}

void MappedFile::page_in() const {
  if (!data_) return;
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;  // Linux 5.14; older headers do not name it
#endif
  void* p = const_cast<std::byte*>(data_);
  if (::madvise(p, size_, MADV_POPULATE_READ) == 0) return;
  if (errno == EINVAL) {  // an older kernel: start the read-ahead and let the faults find it
    ::madvise(p, size_, MADV_WILLNEED);
    return;
  }
  if (errno == ENOMEM || errno == EAGAIN || errno == EINTR) return;  // not an error in the file: fault on demand
  throw FormatError(path_, errno == EFAULT ? "cannot read: the file is shorter than when it was opened"
                                           : "cannot read: " + errno_text());
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw FormatError(path, "cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw FormatError(path, "cannot stat: " + errno_text());
  if (!S_ISREG(st.st_mode)) throw FormatError(path, "not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    throw FormatError(path, "file is " + std::to_string(st.st_size) + " bytes, more than the " +
                                std::to_string(max_bytes) + " allowed for this kind of file");
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(f.fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw FormatError(path, "read failed: " + errno_text());
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

}  // namespace mnemo

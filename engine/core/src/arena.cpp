#include "mnemo/core/arena.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "mnemo/core/error.h"

namespace mnemo {

void Arena::FreeDeleter::operator()(void* p) const { std::free(p); }

void Arena::reserve(size_t capacity_bytes) {
  if (capacity_bytes <= capacity_) return;
  const size_t rounded = (capacity_bytes + 4095) & ~size_t{4095};
  void* p = std::aligned_alloc(4096, rounded);
  if (!p) throw Error("arena: cannot allocate " + std::to_string(rounded) + " bytes");
  // Touch every page now, so that steps never fault on fresh pages.
  std::memset(p, 0, rounded);
  block_.reset(static_cast<std::byte*>(p));
  capacity_ = rounded;
  used_ = 0;
}

void* Arena::allocate(size_t bytes) {
  const size_t start = (used_ + 63) & ~size_t{63};
  if (start > capacity_ || bytes > capacity_ - start)
    throw Error("arena exhausted: need " + std::to_string(bytes) + " bytes at offset " +
                std::to_string(start) + " of " + std::to_string(capacity_));
  used_ = start + bytes;
  if (used_ > high_water_) high_water_ = used_;
  return block_.get() + start;
}

}  // namespace mnemo

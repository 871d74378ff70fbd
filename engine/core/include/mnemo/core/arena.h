// A bump allocator over one preallocated, reused block. Per-step buffers come from here so that a
// decode step touches no fresh pages (a page fault costs more than the math it would feed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace mnemo {

class Arena {
 public:
  Arena() = default;
  explicit Arena(size_t capacity_bytes) { reserve(capacity_bytes); }

  // Grows the block to at least capacity_bytes (contents are lost); call between steps only.
  void reserve(size_t capacity_bytes);
  void reset() { used_ = 0; }  // frees everything allocated since the last reset

  // 64-byte aligned; throws mnemo::Error when the arena is exhausted (a sizing bug, not input).
  void* allocate(size_t bytes);
  template <class T>
  T* allocate_array(size_t n) {
    return static_cast<T*>(allocate(n * sizeof(T)));
  }

  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }
  size_t high_water() const { return high_water_; }

 private:
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  std::unique_ptr<std::byte, FreeDeleter> block_;
  size_t capacity_ = 0;
  size_t used_ = 0;
  size_t high_water_ = 0;
};

}  // namespace mnemo

#include <string>

#include "mnemo/backend/backend.h"
#include "mnemo/core/error.h"

namespace mnemo::backend {

void check_view(const View& v, const char* what) {
  if (!v.buffer) throw Error(std::string(what) + ": no buffer");
  if (v.rows < 0 || v.cols < 0 || v.offset < 0 || (v.rows > 1 && v.stride < v.cols))
    throw Error(std::string(what) + ": a view of " + std::to_string(v.rows) + " × " + std::to_string(v.cols) +
                " at offset " + std::to_string(v.offset) + " with stride " + std::to_string(v.stride) + " is malformed");
  const int64_t end = v.rows == 0 ? v.offset : v.offset + (v.rows - 1) * v.stride + v.cols;
  if (end > v.buffer->size())
    throw Error(std::string(what) + ": a view reaching element " + std::to_string(end) + " of a buffer of " +
                std::to_string(v.buffer->size()));
}

void check_same_shape(const View& a, const View& b, const char* what) {
  if (a.rows != b.rows || a.cols != b.cols)
    throw Error(std::string(what) + ": shapes differ ([" + std::to_string(a.rows) + ", " + std::to_string(a.cols) + "] and [" +
                std::to_string(b.rows) + ", " + std::to_string(b.cols) + "])");
}

}  // namespace mnemo::backend

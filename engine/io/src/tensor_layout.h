// Checks shared by the GGUF and safetensors readers: the byte size of a tensor from its type and
// shape, with overflow checks, and a printable form of names that may hold arbitrary bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mnemo/core/dtype.h"

namespace mnemo::io {

// Bytes taken by a dense tensor of `dtype` with `shape` in NumPy order (last dimension
// contiguous). Throws FormatError(path, "tensor '<name>': ...") when a dimension is negative, the
// contiguous dimension is not a whole number of quantization blocks, or the size overflows.
uint64_t tensor_nbytes(const std::string& path, std::string_view name, DType dtype,
                       std::span<const int64_t> shape);

// `s` with control and non-ASCII bytes escaped as \xNN and cut to `max_chars`, for messages.
std::string printable(std::string_view s, size_t max_chars = 80);

}  // namespace mnemo::io

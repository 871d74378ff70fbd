// Element types of weights and activations, with the block layout of quantized types.
// The numeric values of DType are GGML's type ids, so a GGUF tensor's type maps directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mnemo {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct DTypeTraits {
  DType type;
  std::string_view name;   // as GGUF tools print it: "f32", "q4_1", ...
  int64_t block_elems;     // elements per block (1 for plain types)
  int64_t block_bytes;     // bytes per block
  bool quantized;
};

// Traits of a type, or nullopt for an id that is not a known type.
std::optional<DTypeTraits> dtype_traits(uint32_t id);
const DTypeTraits& traits(DType t);  // t must be a known type
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // "f32", "F16", "bf16", "q8_0", ...

// Bytes taken by a row of n elements, or nullopt when n is not a whole number of blocks or the
// size overflows.
std::optional<uint64_t> row_bytes(DType t, int64_t n);

}  // namespace mnemo

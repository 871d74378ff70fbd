#include "mnemo/core/dtype.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace mnemo {
namespace {

constexpr std::array kTraits = {
    DTypeTraits{DType::F32, "f32", 1, 4, false},     DTypeTraits{DType::F16, "f16", 1, 2, false},
    DTypeTraits{DType::Q4_0, "q4_0", 32, 18, true},  DTypeTraits{DType::Q4_1, "q4_1", 32, 20, true},
    DTypeTraits{DType::Q8_0, "q8_0", 32, 34, true},  DTypeTraits{DType::Q8_1, "q8_1", 32, 36, true},
    DTypeTraits{DType::Q2_K, "q2_k", 256, 84, true}, DTypeTraits{DType::Q3_K, "q3_k", 256, 110, true},
    DTypeTraits{DType::Q4_K, "q4_k", 256, 144, true}, DTypeTraits{DType::Q5_K, "q5_k", 256, 176, true},
    DTypeTraits{DType::Q6_K, "q6_k", 256, 210, true}, DTypeTraits{DType::Q8_K, "q8_k", 256, 292, true},
    DTypeTraits{DType::I8, "i8", 1, 1, false},       DTypeTraits{DType::I16, "i16", 1, 2, false},
    DTypeTraits{DType::I32, "i32", 1, 4, false},     DTypeTraits{DType::I64, "i64", 1, 8, false},
    DTypeTraits{DType::F64, "f64", 1, 8, false},     DTypeTraits{DType::BF16, "bf16", 1, 2, false},
};

}  // namespace

std::optional<DTypeTraits> dtype_traits(uint32_t id) {
  for (const auto& t : kTraits)
    if (static_cast<uint32_t>(t.type) == id) return t;
  return std::nullopt;
}

const DTypeTraits& traits(DType t) {
  for (const auto& tr : kTraits)
    if (tr.type == t) return tr;
  return kTraits[0];  // unreachable for valid enumerators
}

std::string_view dtype_name(DType t) { return traits(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& t : kTraits)
    if (t.name == lower) return t.type;
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(DType t, int64_t n) {
  const auto& tr = traits(t);
  if (n < 0 || n % tr.block_elems != 0) return std::nullopt;
  const uint64_t blocks = static_cast<uint64_t>(n / tr.block_elems);
  if (blocks > UINT64_MAX / static_cast<uint64_t>(tr.block_bytes)) return std::nullopt;
  return blocks * static_cast<uint64_t>(tr.block_bytes);
}

}  // namespace mnemo

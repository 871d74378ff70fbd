// safetensors reader: u64 header length, a JSON object {name: {dtype, shape, data_offsets}},
// then the data section. Offsets are relative to the data section; each range must hold exactly
// shape × element size bytes, and no two ranges may overlap.
#include "mnemo/io/safetensors.h"

#include <algorithm>
#include <optional>

#include "byte_reader.h"
#include "checked_math.h"
#include "json_document.h"
#include "mnemo/core/error.h"
#include "tensor_layout.h"

namespace mnemo::io {
namespace {

struct SafetensorsDType {
  std::string_view name;
  uint64_t element_bytes;
  std::optional<DType> dtype;  // nullopt: valid in the format, but the engine has no such type
};

constexpr SafetensorsDType kDTypes[] = {
    {"F64", 8, DType::F64},    {"F32", 4, DType::F32},     {"F16", 2, DType::F16},
    {"BF16", 2, DType::BF16},  {"I64", 8, DType::I64},     {"I32", 4, DType::I32},
    {"I16", 2, DType::I16},    {"I8", 1, DType::I8},       {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt}, {"U16", 2, std::nullopt},   {"U32", 4, std::nullopt},
    {"U64", 8, std::nullopt},  {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt}, {"C64", 8, std::nullopt},
};

const SafetensorsDType* find_dtype(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return &d;
  return nullptr;
}

struct Range {
  uint64_t begin, end;
  std::string_view name;
};

struct ParsedEntry {
  const SafetensorsDType* dtype;
  int ndim;
  std::array<int64_t, kMaxDims> shape{};
  uint64_t begin, end;
};

ParsedEntry parse_entry(const std::string& name, const nlohmann::json& v, uint64_t data_size,
                        ByteReader& r) {
  const std::string label = "tensor '" + printable(name) + "'";
  if (!v.is_object()) r.fail(label + ": header entry is not a JSON object");
  ParsedEntry e{};

  const auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) r.fail(label + ": missing or non-string \"dtype\"");
  e.dtype = find_dtype(dt->get_ref<const std::string&>());
  if (!e.dtype) r.fail(label + ": unknown dtype \"" + printable(dt->get<std::string>()) + "\"");

  const auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) r.fail(label + ": missing or non-array \"shape\"");
  if (sh->size() > static_cast<size_t>(kMaxDims))
    r.fail(label + ": " + std::to_string(sh->size()) + " dimensions; at most " +
           std::to_string(kMaxDims) + " are supported");
  e.ndim = static_cast<int>(sh->size());
  for (int i = 0; i < e.ndim; ++i) {
    const auto& d = (*sh)[static_cast<size_t>(i)];
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      r.fail(label + ": shape entry " + (d.is_number() ? d.dump() : std::string("of type ") + d.type_name()) +
             " is not a non-negative integer");
    e.shape[static_cast<size_t>(i)] = d.get<int64_t>();
  }

  const auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    r.fail(label + ": \"data_offsets\" must be two non-negative integers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_size)
    r.fail(label + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
           "] are not inside the data section of " + std::to_string(data_size) + " bytes");

  uint64_t expected = e.dtype->element_bytes;
  for (int i = 0; i < e.ndim; ++i) {
    const auto p = checked_mul(expected, static_cast<uint64_t>(e.shape[static_cast<size_t>(i)]));
    if (!p) r.fail(label + ": size overflows 64 bits");
    expected = *p;
  }
  if (expected != e.end - e.begin)
    r.fail(label + ": data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " +
           sh->dump() + " of " + std::string(e.dtype->name) + " needs " + std::to_string(expected));
  return e;
}

void check_no_overlap(std::vector<Range>& ranges, ByteReader& r) {
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      r.fail("data of tensors '" + printable(ranges[i - 1].name) + "' and '" +
             printable(ranges[i].name) + "' overlap at offset " + std::to_string(ranges[i].begin));
}

}  // namespace

SafetensorsImage parse_safetensors_image(const std::byte* data, uint64_t size, const std::string& path) {
  ByteReader r(data, size, path);
  const uint64_t header_len = r.u64("header length");
  if (header_len > kMaxSafetensorsHeaderBytes)
    r.fail("header length " + std::to_string(header_len) + " exceeds the limit of " +
           std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  if (header_len > r.remaining())
    r.fail("header length " + std::to_string(header_len) + " is past the end of the file (" +
           std::to_string(size) + " bytes)");
  const std::string_view text = r.bytes(header_len, "JSON header");
  const nlohmann::json header = parse_json_document(text, path, "safetensors header");
  if (!header.is_object()) r.fail("safetensors header is not a JSON object");

  const uint64_t data_start = r.offset();
  const uint64_t data_size = size - data_start;
  SafetensorsImage img;
  std::vector<Range> ranges;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;  // free-form string map; nothing the engine needs
    const ParsedEntry e = parse_entry(name, v, data_size, r);
    if (e.end > e.begin) ranges.push_back({e.begin, e.end, name});
    if (!e.dtype->dtype) {
      img.skipped.push_back({name, std::string(e.dtype->name), path});
      continue;
    }
    TensorView view;
    view.dtype = *e.dtype->dtype;
    view.ndim = e.ndim;
    view.shape = e.shape;
    view.data = data + data_start + e.begin;
    view.nbytes = e.end - e.begin;
    img.tensors.push_back({name, view, path});
  }
  check_no_overlap(ranges, r);
  return img;
}

std::vector<TensorEntry> parse_safetensors(const std::byte* data, uint64_t size, const std::string& path) {
  return parse_safetensors_image(data, size, path).tensors;
}

}  // namespace mnemo::io

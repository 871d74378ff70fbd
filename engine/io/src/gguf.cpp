// GGUF v2/v3 reader. Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 kv count,
// the key-value pairs, the tensor infos, padding to general.alignment, then tensor data. Every
// count and length is checked against GgufLimits and against the bytes left before anything is
// allocated for it.
#include "mnemo/io/gguf.h"

#include <unordered_set>

#include "byte_reader.h"
#include "checked_math.h"
#include "mnemo/core/error.h"
#include "mnemo/core/mapped_file.h"
#include "tensor_layout.h"
#include "utf8.h"

namespace mnemo::io {
namespace {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
constexpr uint32_t kValueTypeCount = 13;

// Arrays of arrays are legal; real files nest at most two deep. The bound keeps the recursive
// reader's stack small on hostile input.
constexpr int kMaxArrayNesting = 8;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;

// The fewest bytes one value of a type takes in the file; a count times this must fit in what
// is left, which bounds every allocation by the file size.
uint64_t min_encoded_bytes(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::BOOL: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;  // element type + count
  }
  return 1;
}

template <class T>
T bit_cast_from(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

class MetadataReader {
 public:
  MetadataReader(ByteReader& r, const GgufLimits& limits) : r_(r), limits_(limits) {}

  // A length-prefixed string. `describe()` says where it is, and is called only to build an error
  // message: vocabularies hold ~10^5 strings, and formatting a label for each costs more than
  // reading them.
  template <class Describe>
  std::string_view string(const Describe& describe) {
    const uint64_t len = r_.u64("string length");
    if (len > limits_.max_string_bytes)
      r_.fail(describe() + ": string length " + std::to_string(len) + " exceeds the limit of " +
              std::to_string(limits_.max_string_bytes) + " bytes");
    if (len > r_.remaining())
      r_.fail("truncated: " + describe() + " at offset " + std::to_string(r_.offset()) + " needs " +
              std::to_string(len) + " bytes but only " + std::to_string(r_.remaining()) + " remain");
    return r_.bytes(len, {});
  }

  nlohmann::json value(ValueType type, const std::string& key, int depth) {
    charge(sizeof(nlohmann::json), key);
    switch (type) {
      case ValueType::U8: return r_.u8("u8 value");
      case ValueType::I8: return static_cast<int8_t>(r_.u8("i8 value"));
      case ValueType::U16: return r_.u16("u16 value");
      case ValueType::I16: return static_cast<int16_t>(r_.u16("i16 value"));
      case ValueType::U32: return r_.u32("u32 value");
      case ValueType::I32: return static_cast<int32_t>(r_.u32("i32 value"));
      case ValueType::U64: return r_.u64("u64 value");
      case ValueType::I64: return static_cast<int64_t>(r_.u64("i64 value"));
      case ValueType::F32: return bit_cast_from<float>(r_.u32("f32 value"));
      case ValueType::F64: return bit_cast_from<double>(r_.u64("f64 value"));
      case ValueType::BOOL: {
        const uint8_t b = r_.u8("bool value");
        if (b > 1) r_.fail("metadata key '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
        return b == 1;
      }
      case ValueType::STRING: {
        const std::string_view s = string([&] { return "string value of metadata key '" + key + "'"; });
        charge(s.size(), key);
        if (!is_valid_utf8(s)) r_.fail("metadata key '" + key + "': string value is not valid UTF-8");
        return std::string(s);
      }
      case ValueType::ARRAY: return array(key, depth + 1);
    }
    r_.fail("metadata key '" + key + "': unknown value type");
  }

  ValueType value_type(const std::string& key) {
    const uint32_t t = r_.u32("value type");
    if (t >= kValueTypeCount)
      r_.fail("metadata key '" + key + "': unknown value type " + std::to_string(t));
    return static_cast<ValueType>(t);
  }

 private:
  nlohmann::json array(const std::string& key, int depth) {
    if (depth > kMaxArrayNesting)
      r_.fail("metadata key '" + key + "': arrays nested more than " +
              std::to_string(kMaxArrayNesting) + " deep");
    const ValueType elem = value_type(key);
    const uint64_t count = r_.u64("array length");
    if (count > limits_.max_array_elems)
      r_.fail("metadata key '" + key + "': array length " + std::to_string(count) +
              " exceeds the limit of " + std::to_string(limits_.max_array_elems));
    if (count > r_.remaining() / min_encoded_bytes(elem))
      r_.fail("metadata key '" + key + "': array length " + std::to_string(count) +
              " cannot fit in the " + std::to_string(r_.remaining()) + " bytes left in the file");
    charge(count * sizeof(nlohmann::json), key);
    nlohmann::json out = nlohmann::json::array();
    out.get_ref<nlohmann::json::array_t&>().reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i) out.push_back(value(elem, key, depth));
    return out;
  }

  // Counts memory the parsed metadata will take, so that many small arrays cannot add up to an
  // allocation far larger than the file.
  void charge(uint64_t bytes, const std::string& key) {
    used_ += bytes;
    if (used_ > limits_.max_metadata_bytes)
      r_.fail("metadata key '" + key + "': metadata exceeds the limit of " +
              std::to_string(limits_.max_metadata_bytes) + " bytes in memory");
  }

  ByteReader& r_;
  const GgufLimits& limits_;
  uint64_t used_ = 0;
};

uint64_t read_alignment(const nlohmann::json& metadata, ByteReader& r) {
  const auto it = metadata.find("general.alignment");
  if (it == metadata.end()) return 32;
  if (!it->is_number_unsigned())
    r.fail("general.alignment must be an unsigned integer, not " +
           (it->is_number() ? it->dump() : std::string("a ") + it->type_name()));
  const uint64_t a = it->get<uint64_t>();
  if (a == 0 || (a & (a - 1)) != 0 || a > kMaxAlignment)
    r.fail("general.alignment " + std::to_string(a) + " is not a power of two up to " +
           std::to_string(kMaxAlignment));
  return a;
}

struct RawTensorInfo {
  std::string name;
  TensorView view;  // data not yet set
  uint64_t offset;  // relative to the data section
};

RawTensorInfo read_tensor_info(MetadataReader& meta, ByteReader& r, uint64_t index) {
  RawTensorInfo t;
  t.name = std::string(meta.string([&] { return "name of tensor #" + std::to_string(index); }));
  if (!is_valid_utf8(t.name))
    r.fail("tensor #" + std::to_string(index) + ": name '" + printable(t.name) + "' is not valid UTF-8");
  const std::string label = "tensor '" + printable(t.name) + "'";
  const uint32_t ndim = r.u32("tensor dimension count");
  if (ndim < 1 || ndim > kMaxDims)
    r.fail(label + ": ndim " + std::to_string(ndim) + " is outside 1.." + std::to_string(kMaxDims));
  t.view.ndim = static_cast<int>(ndim);
  for (uint32_t i = 0; i < ndim; ++i) {
    const uint64_t d = r.u64("tensor dimension");
    if (d == 0 || d > static_cast<uint64_t>(INT64_MAX))
      r.fail(label + ": dimension " + std::to_string(i) + " is " + std::to_string(d) +
             " (must be between 1 and 2^63-1)");
    t.view.shape[ndim - 1 - i] = static_cast<int64_t>(d);  // GGUF lists innermost first
  }
  const uint32_t type = r.u32("tensor type");
  const auto tr = dtype_traits(type);
  if (!tr) r.fail(label + ": unknown tensor type " + std::to_string(type));
  t.view.dtype = tr->type;
  t.offset = r.u64("tensor data offset");
  return t;
}

class GgufModelFile final : public ModelFile {
 public:
  GgufModelFile(std::string path, std::unique_ptr<MappedFile> map)
      : path_(std::move(path)), map_(std::move(map)),
        image_(parse_gguf(map_->data(), map_->size(), path_)) {}

  std::string format() const override { return "gguf"; }
  const std::string& path() const override { return path_; }
  const nlohmann::json& metadata() const override { return image_.metadata; }
  std::string architecture() const override {
    const auto it = image_.metadata.find("general.architecture");
    return it != image_.metadata.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  const std::vector<TensorEntry>& tensors() const override { return image_.tensors; }
  void page_in() const override { map_->page_in(); }

 private:
  std::string path_;
  std::unique_ptr<MappedFile> map_;
  GgufImage image_;
};

}  // namespace

GgufImage parse_gguf(const std::byte* data, uint64_t size, const std::string& path,
                     const GgufLimits& limits) {
  ByteReader r(data, size, path);
  GgufImage img;

  const std::string_view magic = r.bytes(4, "magic");
  if (magic != "GGUF") r.fail("not a GGUF file (magic is '" + printable(magic) + "')");
  img.version = r.u32("version");
  if (img.version == 0x03000000u || img.version == 0x02000000u)
    r.fail("big-endian GGUF files are not supported");
  if (img.version != 2 && img.version != 3)
    r.fail("unsupported GGUF version " + std::to_string(img.version) + " (only 2 and 3 are supported)");
  const uint64_t n_tensors = r.u64("tensor count");
  const uint64_t n_kv = r.u64("metadata count");
  if (n_tensors > limits.max_tensors)
    r.fail("tensor count " + std::to_string(n_tensors) + " exceeds the limit of " +
           std::to_string(limits.max_tensors));
  if (n_kv > limits.max_kv)
    r.fail("metadata count " + std::to_string(n_kv) + " exceeds the limit of " +
           std::to_string(limits.max_kv));
  // A key-value pair takes at least 13 bytes, a tensor info at least 32.
  constexpr uint64_t kMinKv = 8 + 4 + 1, kMinTensorInfo = 8 + 4 + 8 + 4 + 8;
  const auto kv_bytes = checked_mul(n_kv, kMinKv), info_bytes = checked_mul(n_tensors, kMinTensorInfo);
  const auto least = kv_bytes && info_bytes ? checked_add(*kv_bytes, *info_bytes) : std::nullopt;
  if (!least || *least > r.remaining())
    r.fail("metadata count " + std::to_string(n_kv) + " and tensor count " +
           std::to_string(n_tensors) + " cannot fit in a file of " + std::to_string(size) + " bytes");

  MetadataReader meta(r, limits);
  img.metadata = nlohmann::json::object();
  for (uint64_t i = 0; i < n_kv; ++i) {
    auto label = [&] { return "key of metadata entry #" + std::to_string(i); };
    const std::string key(meta.string(label));
    if (!is_valid_utf8(key)) r.fail(label() + " '" + printable(key) + "' is not valid UTF-8");
    if (img.metadata.contains(key)) r.fail("duplicate metadata key '" + key + "'");
    const ValueType type = meta.value_type(key);
    img.metadata[key] = meta.value(type, key, 0);
  }
  img.alignment = read_alignment(img.metadata, r);

  std::vector<RawTensorInfo> infos;
  infos.reserve(static_cast<size_t>(n_tensors));
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    infos.push_back(read_tensor_info(meta, r, i));
    if (!names.insert(infos.back().name).second)
      r.fail("duplicate tensor name '" + printable(infos.back().name) + "'");
  }

  const auto data_offset = checked_align_up(r.offset(), img.alignment);
  if (!data_offset) r.fail("data section offset overflows");
  img.data_offset = *data_offset;

  img.tensors.reserve(infos.size());
  for (auto& info : infos) {
    const std::string label = "tensor '" + printable(info.name) + "'";
    const uint64_t nbytes = tensor_nbytes(path, info.name, info.view.dtype,
                                          {info.view.shape.data(), static_cast<size_t>(info.view.ndim)});
    if (info.offset % img.alignment != 0)
      r.fail(label + ": data offset " + std::to_string(info.offset) +
             " is not a multiple of the alignment " + std::to_string(img.alignment));
    const auto begin = checked_add(img.data_offset, info.offset);
    const auto end = begin ? checked_add(*begin, nbytes) : std::nullopt;
    if (!end || *end > size)
      r.fail(label + ": data at offset " + std::to_string(info.offset) + " (+" +
             std::to_string(img.data_offset) + ") with " + std::to_string(nbytes) +
             " bytes lies past the end of the file (" + std::to_string(size) + " bytes)");
    info.view.data = data + *begin;
    info.view.nbytes = nbytes;
    img.tensors.push_back(TensorEntry{std::move(info.name), info.view, path});
  }
  return img;
}

std::unique_ptr<ModelFile> open_gguf(const std::string& path) {
  return std::make_unique<GgufModelFile>(path, std::make_unique<MappedFile>(path));
}

}  // namespace mnemo::io

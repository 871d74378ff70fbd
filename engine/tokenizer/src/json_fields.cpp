#include "json_fields.h"

#include "mnemo/core/error.h"

namespace mnemo::tok {

json parse_json(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw FormatError(path, std::string("not valid JSON: ") + e.what());
  }
}

const json* field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const json& object, const char* key, const std::string& path,
                         const std::string& where) {
  const json* value = field(object, key);
  if (!value || !value->is_string())
    throw FormatError(path, where + "." + key + " must be a string");
  return value->get<std::string>();
}

std::string string_or(const json& object, const char* key, const std::string& fallback,
                      const std::string& path, const std::string& where) {
  return field(object, key) ? string_field(object, key, path, where) : fallback;
}

bool bool_or(const json& object, const char* key, bool fallback, const std::string& path,
             const std::string& where) {
  const json* value = field(object, key);
  if (!value) return fallback;
  if (!value->is_boolean()) throw FormatError(path, where + "." + key + " must be true or false");
  return value->get<bool>();
}

int64_t as_int(const json& value, const std::string& path, const std::string& where) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{INT64_MAX})
      throw FormatError(path, where + " is out of range");
    return value.get<int64_t>();
  }
  throw FormatError(path, where + " must be an integer");
}

int64_t int_or(const json& object, const char* key, int64_t fallback, const std::string& path,
               const std::string& where) {
  const json* value = field(object, key);
  return value ? as_int(*value, path, where + "." + key) : fallback;
}

}  // namespace mnemo::tok

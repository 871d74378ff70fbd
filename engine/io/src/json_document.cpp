#include "json_document.h"

#include <unordered_set>

#include "mnemo/core/error.h"
#include "tensor_layout.h"

namespace mnemo::io {

nlohmann::json parse_json_document(std::string_view text, const std::string& path,
                                   const std::string& what) {
  using json = nlohmann::json;
  std::unordered_set<std::string> top_level_keys;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonNesting)
      throw FormatError(path, what + ": nested more than " + std::to_string(kMaxJsonNesting) + " deep");
    if (event == json::parse_event_t::key && depth == 1 &&
        !top_level_keys.insert(parsed.get<std::string>()).second)
      throw FormatError(path, what + ": duplicate key '" + printable(parsed.get<std::string>()) + "'");
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    throw FormatError(path, what + " is not valid JSON: " + e.what());
  }
}

}  // namespace mnemo::io

#include "frontend/safetensors/json_text.h"

#include "ir/error.h"

#include <optional>
#include <set>
#include <vector>

namespace gm::safetensors {

nlohmann::json parseJson(std::string_view text, const std::string &where) {
  using nlohmann::json;
  std::vector<std::set<std::string>> openObjects;
  std::optional<std::string> duplicate;
  auto noteKeys = [&](int, json::parse_event_t event, json &parsed) {
    switch (event) {
    case json::parse_event_t::object_start:
      openObjects.emplace_back();
      break;
    case json::parse_event_t::object_end:
      openObjects.pop_back();
      break;
    case json::parse_event_t::key:
      if (!openObjects.back().insert(parsed.get<std::string>()).second && !duplicate)
        duplicate = parsed.get<std::string>();
      break;
    case json::parse_event_t::array_start:
    case json::parse_event_t::array_end:
    case json::parse_event_t::value:
      break;
    }
    return true;
  };
  json result;
  try {
    result = json::parse(text.begin(), text.end(), noteKeys);
  } catch (const json::exception &e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; the rest names line and column.
    std::string_view message = e.what();
    if (std::size_t tag = message.find("] "); message.starts_with("[json.exception") && tag != message.npos)
      message.remove_prefix(tag + 2);
    fail(where, "{}", message);
  }
  if (duplicate)
    fail(where, "key '{}' appears twice in one object", *duplicate);
  return result;
}

} // namespace gm::safetensors

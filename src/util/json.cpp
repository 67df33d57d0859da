#include "util/json.h"

#include "util/error.h"

namespace binscan {

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

nlohmann::json parse_json(std::string_view text, const std::string& subject) {
  if (!json_depth_within(text, kMaxJsonDepth))
    throw Error(ErrorKind::kTooLarge, subject,
                "JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

nlohmann::json parse_stored_json(std::string_view text) {
  if (!json_depth_within(text, kMaxJsonDepth)) return nullptr;
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json() : j;
}

std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars) {
  std::string text =
      value.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

}  // namespace binscan

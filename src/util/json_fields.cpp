#include "util/json_fields.h"

#include <cmath>

#include "util/error.h"
#include "util/json.h"

namespace binscan {

std::string json_type_name(const nlohmann::json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "null";
}

void json_field_error(const std::string& source, const std::string& key, const std::string& why) {
  throw Error(ErrorKind::kConfig, source, "\"" + key + "\" " + why);
}

int json_positive_int(const nlohmann::json& v, const std::string& key, const std::string& source,
                      std::int64_t max) {
  if (!v.is_number_integer()) {
    json_field_error(source, key, "must be a positive integer, got " + json_type_name(v));
  }
  const auto n = v.get<std::int64_t>();
  if (n <= 0) json_field_error(source, key, "must be a positive integer, got " + json_excerpt(v));
  if (n > max) {
    json_field_error(
        source, key,
        "is " + json_excerpt(v) + ", more than binscan's limit of " + std::to_string(max));
  }
  return static_cast<int>(n);
}

double json_finite_number(const nlohmann::json& v, const std::string& key,
                          const std::string& source) {
  if (!v.is_number()) json_field_error(source, key, "must be a number, got " + json_type_name(v));
  const double d = v.get<double>();
  if (!std::isfinite(d)) json_field_error(source, key, "must be finite");
  return d;
}

bool json_bool(const nlohmann::json& v, const std::string& key, const std::string& source) {
  if (!v.is_boolean()) {
    json_field_error(source, key, "must be true or false, got " + json_type_name(v));
  }
  return v.get<bool>();
}

std::string json_string(const nlohmann::json& v, const std::string& key,
                        const std::string& source) {
  if (!v.is_string()) json_field_error(source, key, "must be a string, got " + json_type_name(v));
  return v.get<std::string>();
}

}  // namespace binscan

// Checked reading of fields from JSON that comes from outside binscan (config.json,
// preprocessor_config.json): one set of validators, so every file's bad value gets the same kind
// of one-line error naming the file, the key, what was expected and what was found.
//
// Absent and null keys are the caller's business (each file has transformers' own rule for them:
// config.json keeps the default, a preprocessor's do_* flag set to null is off); these functions
// check a value that is there.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace binscan {

// "a string", "an integer", "a list", ... for messages.
std::string json_type_name(const nlohmann::json& v);

// An integer in [1, max] (a JSON boolean is not an integer). Throws Error(kConfig) naming
// `source` and `key` otherwise.
int json_positive_int(const nlohmann::json& v, const std::string& key, const std::string& source,
                      std::int64_t max = 1'000'000);
// A finite number.
double json_finite_number(const nlohmann::json& v, const std::string& key,
                          const std::string& source);
bool json_bool(const nlohmann::json& v, const std::string& key, const std::string& source);
std::string json_string(const nlohmann::json& v, const std::string& key, const std::string& source);

// The error these throw, for checks of their own ("\"key\" <why>" naming `source`).
[[noreturn]] void json_field_error(const std::string& source, const std::string& key,
                                   const std::string& why);

}  // namespace binscan

// The one policy for reading JSON that comes from outside binscan (config files, safetensors
// headers and indexes, Hub and Inference API replies, survey files from elsewhere).
//
// nlohmann's parser, its copies, dump() and its destructor recurse once per nesting level, so
// 100k nested brackets in a 200 KB reply overflowed the stack (SIGSEGV). Nothing binscan reads
// nests more than a few levels, so depth is bounded before parsing, in one linear pass.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace binscan {

// Deeper than this is refused: real configs and replies nest 3 or 4 levels.
inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; invalid JSON gives a discarded value (is_discarded()), so each caller keeps its
// own message. Nesting deeper than kMaxJsonDepth throws Error(kTooLarge) naming `subject`.
nlohmann::json parse_json(std::string_view text, const std::string& subject);

// A JSON column of a survey (top_json, bin_labels_json): binscan writes it, but a survey merged
// from elsewhere may hold anything, so invalid or too deeply nested text reads as null.
nlohmann::json parse_stored_json(std::string_view text);

// Whether `text` nests arrays/objects at most `max_depth` deep (strings are skipped).
bool json_depth_within(std::string_view text, int max_depth);

// A value for an error line: its JSON text cut to `max_chars` (with "..."), never unbounded.
std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars = 80);

}  // namespace binscan

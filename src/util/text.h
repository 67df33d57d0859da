// Small text helpers used across layers, each written once: whitespace trimming, ASCII
// lower-casing and base64 (RFC 4648, with padding) for data: URIs and the Inference API.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace binscan {

// `s` without leading and trailing whitespace (std::isspace in the C locale).
std::string trim(std::string_view s);

// `s` with ASCII letters lower-cased; other bytes unchanged.
std::string ascii_lower(std::string_view s);

// Standard base64 (alphabet A-Z a-z 0-9 + /, '=' padding, no line breaks).
std::string base64_encode(std::span<const std::uint8_t> bytes);

// Decodes base64 as clients send it: the standard or the URL-safe alphabet, '=' padding optional,
// whitespace (line breaks) skipped. nullopt for any other character, data after the padding, or
// a length no encoder produces (a lone final character).
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace binscan

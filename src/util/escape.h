// The one escaping layer per output format. Every value binscan writes may come from outside
// (file names, EXIF strings, labels from config.json or the Inference API, survey files merged
// from elsewhere), so every renderer passes every value through the function for where it lands,
// whatever its source:
//   HTML text and quoted attributes, and SVG/XML (inline in the pages) -> html_escape
//   CSV cells                                                        -> csv_field
//   JSON, JSON Lines, GeoJSON                                        -> json_text
//   JSON data inside an HTML <script>                                -> script_json
//   the terminal (stdout/stderr text, progress, error lines)         -> terminal_text
//
// Text is stored as the bytes it came with (a file name that is not UTF-8 keeps its bytes in the
// survey). On the way out, HTML, CSV and JSON get valid UTF-8: each invalid byte becomes U+FFFD;
// the terminal instead shows it as \xNN, so the exact name stays visible.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace binscan {

// `s` as valid UTF-8: each byte that does not start a well-formed sequence (overlong forms,
// surrogates and code points above U+10FFFF included) becomes U+FFFD.
std::string valid_utf8(std::string_view s);

// For HTML text, double- or single-quoted attribute values, and SVG/XML text: & < > " ' as
// entities, invalid UTF-8 and control characters other than tab/LF/CR (not allowed in XML) as
// U+FFFD. Safe in every context except unquoted attributes, <script> and <style>, which binscan
// never fills with data.
std::string html_escape(std::string_view s);
inline std::string svg_escape(std::string_view s) { return html_escape(s); }

// A CSV cell (RFC 4180: quoted when it holds , " CR or LF; valid UTF-8, control characters
// other than tab/CR/LF as U+FFFD). A text that begins with
// = + - @ tab or CR is a formula to spreadsheets, so it gets a leading ' (OWASP's advice for CSV
// injection) — unless the whole cell is a plain decimal number such as -3.5, which stays a number.
std::string csv_field(std::string_view s);

// Whether `s` is a plain decimal number ([+-]digits[.digits][e[+-]digits]).
bool is_plain_number(std::string_view s);

// JSON text that is always valid: invalid UTF-8 inside strings becomes U+FFFD (nlohmann's
// default would throw "invalid UTF-8 byte" and lose the whole output). indent < 0: one line.
std::string json_text(const nlohmann::json& value, int indent = -1);
std::string json_text(const nlohmann::ordered_json& value, int indent = -1);
// JSON data inside an HTML <script> element (a JavaScript expression): json_text with every <
// written as \u003c, so no text can close the element (</script>) or start a comment (<!--).
// JSON puts < only inside strings, where \u003c means the same character.
std::string script_json(const nlohmann::ordered_json& value);

// For the terminal: control bytes (C0, DEL, and C1 as UTF-8) and invalid UTF-8 bytes as \xNN,
// line breaks as spaces unless `keep_newlines`; escape sequences can never reach the terminal.
std::string terminal_text(std::string_view s, bool keep_newlines = false);

}  // namespace binscan

#include "util/escape.h"

#include <cstdint>

namespace binscan {
namespace {

// Length of the well-formed UTF-8 sequence at s[i] (1-4), or 0 when the byte there does not
// start one (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i, std::uint32_t* code = nullptr) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c < 0x80) {
    if (code) *code = c;
    return 1;
  } else if (c >= 0xc2 && c <= 0xdf) {
    n = 2, cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
      (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  if (code) *code = cp;
  return n;
}

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

void append_hex(std::string& out, unsigned char u) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[u >> 4];
  out += kHex[u & 15];
}

// Valid UTF-8 without control characters other than tab, LF and CR (C0, DEL, C1 become U+FFFD):
// what HTML, XML and CSV may carry.
std::string printable_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8_length(s, i, &cp);
    if (n == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
        (cp >= 0x7f && cp < 0xa0)) {
      out += kReplacement;
      i += n == 0 ? 1 : n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace

std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string html_escape(std::string_view raw) {
  const std::string s = printable_utf8(raw);
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool is_plain_number(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

std::string csv_field(std::string_view raw) {
  // No control characters either: an ESC would reach the terminal of whoever cats the file.
  std::string s = printable_utf8(raw);
  if (!s.empty() && std::string_view("=+-@\t\r").find(s.front()) != std::string_view::npos &&
      !is_plain_number(s))
    s.insert(s.begin(), '\'');
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string json_text(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

std::string json_text(const nlohmann::ordered_json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false,
                    nlohmann::ordered_json::error_handler_t::replace);
}

std::string script_json(const nlohmann::ordered_json& value) {
  const std::string text = json_text(value);
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

std::string terminal_text(std::string_view s, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8_length(s, i, &cp);
    if (n == 0) {
      append_hex(out, static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    if (cp == '\n' || cp == '\r') {
      out += keep_newlines && cp == '\n' ? '\n' : ' ';
    } else if (cp < 0x20 || cp == 0x7f) {
      append_hex(out, static_cast<unsigned char>(cp));
    } else if (cp >= 0x80 && cp < 0xa0) {  // C1 controls (CSI is U+009B): their bytes escaped
      for (std::size_t k = 0; k < n; ++k) append_hex(out, static_cast<unsigned char>(s[i + k]));
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace binscan

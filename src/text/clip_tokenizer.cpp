#include "text/clip_tokenizer.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <climits>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/file.h"
#include "util/json.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kBos = "<|startoftext|>";
constexpr std::string_view kEos = "<|endoftext|>";
// CLIPTokenizer reads merges.txt as lines [1 : 49152 - 256 - 2 + 1]: the first line (the
// "#version" header) skipped and no more than the merges CLIP's 49408-token vocabulary was built
// from.
constexpr std::size_t kMaxMerges = 49152 - 256 - 2;

// GPT-2's bytes_to_unicode: every byte as a printable code point, UTF-8 encoded.
const std::array<std::string, 256>& byte_alphabet() {
  static const auto table = [] {
    std::array<std::string, 256> t;
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const UChar32 cp = printable ? b : 256 + extra++;
      char buf[4];
      int len = 0;
      U8_APPEND_UNSAFE(buf, len, cp);
      t[static_cast<std::size_t>(b)] = std::string(buf, static_cast<std::size_t>(len));
    }
    return t;
  }();
  return table;
}

std::vector<UChar32> decode_utf8(std::string_view s) {
  std::vector<UChar32> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    out.push_back(c < 0 ? 0xFFFD : c);  // ill-formed bytes read as U+FFFD (then dropped)
  }
  return out;
}

void append_utf8(std::string& out, UChar32 c) {
  char buf[4];
  int len = 0;
  U8_APPEND_UNSAFE(buf, len, c);
  out.append(buf, static_cast<std::size_t>(len));
}

std::u16string to_utf16(const std::vector<UChar32>& cps, std::size_t begin, std::size_t end) {
  std::u16string s;
  for (std::size_t i = begin; i < end; ++i) {
    const UChar32 c = cps[i];
    if (c > 0xFFFF) {
      s.push_back(static_cast<char16_t>(U16_LEAD(c)));
      s.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    } else {
      s.push_back(static_cast<char16_t>(c));
    }
  }
  return s;
}

std::vector<UChar32> from_utf16(const std::u16string& s) {
  std::vector<UChar32> out;
  const auto n = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(s.data(), i, n, c);
    out.push_back(c);
  }
  return out;
}

// Runs an ICU string transform that may need a bigger output buffer.
template <typename Fn>
std::u16string icu_transform(const std::u16string& in, Fn&& fn, const char* what) {
  std::u16string out(in.size() + 8, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode status = U_ZERO_ERROR;
    const int32_t len = fn(in, out, status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<std::size_t>(len) + 1, u'\0');
      continue;
    }
    if (U_FAILURE(status)) throw Error(ErrorKind::kInternal, "tokenizer", what);
    out.resize(static_cast<std::size_t>(len));
    return out;
  }
  throw Error(ErrorKind::kInternal, "tokenizer", what);
}

std::u16string nfc(const std::u16string& in) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* norm = unorm2_getNFCInstance(&status);
  if (U_FAILURE(status)) throw Error(ErrorKind::kInternal, "tokenizer", "ICU has no NFC data");
  return icu_transform(
      in,
      [norm](const std::u16string& s, std::u16string& o, UErrorCode& st) {
        return unorm2_normalize(norm, reinterpret_cast<const UChar*>(s.data()),
                                static_cast<int32_t>(s.size()), reinterpret_cast<UChar*>(o.data()),
                                static_cast<int32_t>(o.size()), &st);
      },
      "NFC normalisation failed");
}

// Python's str.lower(): full case mapping, Final_Sigma included (ICU's root locale does both).
std::u16string lower(const std::u16string& in) {
  return icu_transform(
      in,
      [](const std::u16string& s, std::u16string& o, UErrorCode& st) {
        return u_strToLower(reinterpret_cast<UChar*>(o.data()), static_cast<int32_t>(o.size()),
                            reinterpret_cast<const UChar*>(s.data()),
                            static_cast<int32_t>(s.size()), "", &st);
      },
      "lower-casing failed");
}

bool is_category_c(UChar32 c) {
  return (U_GET_GC_MASK(c) &
          (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CO_MASK | U_GC_CS_MASK | U_GC_CN_MASK)) != 0;
}
bool is_letter(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0; }
bool is_number(UChar32 c) { return (U_GET_GC_MASK(c) & U_GC_N_MASK) != 0; }

// BasicTokenizer's _is_whitespace / _is_control.
bool bert_whitespace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_charType(c) == U_SPACE_SEPARATOR;
}
bool bert_control(UChar32 c) { return c != '\t' && c != '\n' && c != '\r' && is_category_c(c); }

// Python's str.isspace() (what str.split() splits on): bidi class WS, B or S, or category Zs.
bool py_space(UChar32 c) {
  if (u_charType(c) == U_SPACE_SEPARATOR) return true;
  const auto bidi = u_charDirection(c);
  return bidi == U_WHITE_SPACE_NEUTRAL || bidi == U_BLOCK_SEPARATOR || bidi == U_SEGMENT_SEPARATOR;
}

// BasicTokenizer's _is_chinese_char: the CJK Unified Ideographs blocks (not Japanese kana or
// Hangul, which are written with spaces).
bool cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False).tokenize,
// joined with single spaces: the text the pattern is matched against.
std::vector<UChar32> basic_clean(std::string_view text) {
  std::vector<UChar32> cleaned;
  for (const UChar32 c : decode_utf8(text)) {
    if (c == 0 || c == 0xFFFD || bert_control(c)) continue;
    if (bert_whitespace(c)) {
      cleaned.push_back(' ');
    } else if (cjk(c)) {
      cleaned.insert(cleaned.end(), {' ', c, ' '});
    } else {
      cleaned.push_back(c);
    }
  }
  const std::vector<UChar32> normal = from_utf16(nfc(to_utf16(cleaned, 0, cleaned.size())));
  std::vector<UChar32> out;
  for (std::size_t i = 0; i < normal.size();) {
    if (py_space(normal[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < normal.size() && !py_space(normal[j])) ++j;
    if (!out.empty()) out.push_back(' ');
    const auto word = from_utf16(lower(to_utf16(normal, i, j)));
    out.insert(out.end(), word.begin(), word.end());
    i = j;
  }
  return out;
}

// CLIPTokenizerFast's normaliser: NFC, each run of White_Space (what Oniguruma's \s matches) to one
// space, then each code point lower-cased alone, as Rust's char::to_lowercase does (full
// mappings, but a final sigma stays σ: no context).
std::vector<UChar32> fast_normalize(std::string_view text) {
  const std::vector<UChar32> cps = decode_utf8(text);
  const std::vector<UChar32> normal = from_utf16(nfc(to_utf16(cps, 0, cps.size())));
  std::vector<UChar32> out;
  for (std::size_t i = 0; i < normal.size();) {
    if (u_isUWhiteSpace(normal[i])) {
      out.push_back(' ');
      while (i < normal.size() && u_isUWhiteSpace(normal[i])) ++i;
      continue;
    }
    const auto low = from_utf16(lower(to_utf16(normal, i, i + 1)));
    out.insert(out.end(), low.begin(), low.end());
    ++i;
  }
  return out;
}

bool starts_with(const std::vector<UChar32>& s, std::size_t at, std::string_view ascii) {
  if (at + ascii.size() > s.size()) return false;
  for (std::size_t k = 0; k < ascii.size(); ++k)
    if (s[at + k] != static_cast<UChar32>(static_cast<unsigned char>(ascii[k]))) return false;
  return true;
}

// The slow pattern is compiled with re.IGNORECASE: after lower-casing only U+017F (long s, whose
// simple case fold is "s") still matches a contraction letter other than itself. The fast one is
// case-sensitive.
bool contraction_letter(UChar32 c, char want, bool ignore_case) {
  return c == want || (ignore_case && want == 's' && c == 0x17F);
}

// The length of the contraction ('s 't 're 've 'm 'll 'd) at `at`, or 0.
std::size_t contraction(const std::vector<UChar32>& s, std::size_t at, bool ignore_case) {
  const auto letter_is = [ignore_case](UChar32 c, char want) {
    return contraction_letter(c, want, ignore_case);
  };
  if (s[at] != '\'' || at + 1 >= s.size()) return 0;
  const UChar32 a = s[at + 1];
  for (const char one : {'s', 't'})
    if (letter_is(a, one)) return 2;
  const UChar32 b = at + 2 < s.size() ? s[at + 2] : 0;
  if (letter_is(a, 'r') && letter_is(b, 'e')) return 3;
  if (letter_is(a, 'v') && letter_is(b, 'e')) return 3;
  if (letter_is(a, 'm')) return 2;
  if (letter_is(a, 'l') && letter_is(b, 'l')) return 3;
  if (letter_is(a, 'd')) return 2;
  return 0;
}

}  // namespace

std::string format_hypothesis(std::string_view tmpl, std::string_view label) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    const auto next = i + 1 < tmpl.size() ? tmpl[i + 1] : '\0';
    if ((c == '{' && next == '{') || (c == '}' && next == '}')) {
      out += c;
      ++i;
    } else if (c == '{') {
      const auto close = tmpl.find('}', i);
      const auto field =
          close == std::string_view::npos ? tmpl.substr(i) : tmpl.substr(i + 1, close - i - 1);
      if (close == std::string_view::npos || (field != "" && field != "0"))
        throw Error(ErrorKind::kConfig, "--template \"" + std::string(tmpl) + "\"",
                    "only {} (the label) and {{ }} (braces) may appear in braces");
      out += label;
      i = close;
    } else if (c == '}') {
      throw Error(ErrorKind::kConfig, "--template \"" + std::string(tmpl) + "\"",
                  "a single } (write }} for a brace)");
    } else {
      out += c;
    }
  }
  return out;
}

ClipTokenizer::ClipTokenizer(std::unordered_map<std::string, std::int64_t> vocab,
                             std::vector<std::pair<std::string, std::string>> merges,
                             std::string pad_token, Flavor flavor)
    : vocab_(std::move(vocab)), flavor_(flavor) {
  for (std::size_t i = 0; i < merges.size(); ++i) {
    // A repeated merge takes its last rank, as dict(zip(merges, range(len(merges)))) does.
    ranks_[merges[i].first + " " + merges[i].second] = static_cast<int>(i);
  }
  const auto need = [this](std::string_view token) {
    const auto it = vocab_.find(std::string(token));
    if (it == vocab_.end())
      throw Error(ErrorKind::kFormat, "vocab.json",
                  "the vocabulary lacks the special token " + std::string(token));
    return it->second;
  };
  bos_ = need(kBos);
  eos_ = need(kEos);
  pad_ = need(pad_token);
  specials_ = {std::string(kBos), std::string(kEos)};
  if (pad_token != kBos && pad_token != kEos) specials_.push_back(pad_token);
}

std::int64_t ClipTokenizer::id_of(const std::string& token) const {
  const auto it = vocab_.find(token);
  return it == vocab_.end() ? eos_ : it->second;  // unk_token is <|endoftext|>
}

void ClipTokenizer::bpe(const std::string& word, std::vector<std::string>& out) const {
  if (word == kBos || word == kEos) {  // CLIPTokenizer's bpe cache holds them as they are
    out.push_back(word);
    return;
  }
  std::vector<std::string> parts;
  const auto* p = reinterpret_cast<const uint8_t*>(word.data());
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n;) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(p, i, n, c);
    parts.emplace_back(
        word.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(i - start)));
  }
  if (parts.empty()) return;
  parts.back() += "</w>";
  std::string key;
  while (parts.size() > 1) {
    int best = INT_MAX;
    std::size_t best_at = 0;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      key.assign(parts[i]).append(" ").append(parts[i + 1]);
      const auto it = ranks_.find(key);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_at = i;
      }
    }
    if (best == INT_MAX) break;
    // Merge every occurrence of the pair, left to right.
    const std::string first = parts[best_at], second = parts[best_at + 1];
    std::vector<std::string> merged;
    merged.reserve(parts.size());
    for (std::size_t i = 0; i < parts.size();) {
      if (i + 1 < parts.size() && parts[i] == first && parts[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(parts[i]);
        ++i;
      }
    }
    parts = std::move(merged);
  }
  out.insert(out.end(), parts.begin(), parts.end());
}

void ClipTokenizer::tokenize_plain(std::string_view text, std::vector<std::string>& out) const {
  const bool slow = flavor_ == Flavor::kSlow;
  const std::vector<UChar32> s = slow ? basic_clean(text) : decode_utf8(text);
  // The pattern's \s: Python's str.isspace for the slow one, White_Space for the fast one.
  const auto space = [slow](UChar32 c) { return slow ? py_space(c) : u_isUWhiteSpace(c) != 0; };
  const auto& alphabet = byte_alphabet();
  const auto emit = [&](std::size_t begin, std::size_t end) {
    std::string utf8;
    for (std::size_t i = begin; i < end; ++i) append_utf8(utf8, s[i]);
    std::string mapped;
    for (const char ch : utf8) mapped += alphabet[static_cast<unsigned char>(ch)];
    bpe(mapped, out);
  };
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 0;
    if (starts_with(s, i, kBos)) {
      len = kBos.size();
    } else if (starts_with(s, i, kEos)) {
      len = kEos.size();
    } else if ((len = contraction(s, i, slow)) > 0) {
    } else if (is_letter(s[i])) {
      while (i + len < s.size() && is_letter(s[i + len])) ++len;
    } else if (is_number(s[i])) {
      len = 1;
    } else if (!space(s[i])) {
      while (i + len < s.size() && !space(s[i + len]) && !is_letter(s[i + len]) &&
             !is_number(s[i + len]))
        ++len;
    } else {
      ++i;  // whitespace: no alternative matches here
      continue;
    }
    emit(i, i + len);
    i += len;
  }
}

std::vector<std::string> ClipTokenizer::tokenize(std::string_view raw) const {
  // The special tokens are split out first (transformers' added-tokens trie, leftmost-longest,
  // case-sensitive), from the raw text (slow) or the normalised text (fast: CLIP's special tokens
  // are "normalized" added tokens); the pieces between them are tokenized on their own.
  std::string normalised;
  if (flavor_ == Flavor::kFast)
    for (const UChar32 c : fast_normalize(raw)) append_utf8(normalised, c);
  const std::string_view text = flavor_ == Flavor::kFast ? std::string_view(normalised) : raw;
  std::vector<std::string> out;
  std::size_t plain = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t best = 0;
    for (const auto& sp : specials_)
      if (sp.size() > best && text.substr(i, sp.size()) == sp) best = sp.size();
    if (best == 0) {
      ++i;
      continue;
    }
    tokenize_plain(text.substr(plain, i - plain), out);
    out.emplace_back(text.substr(i, best));
    i += best;
    plain = i;
  }
  tokenize_plain(text.substr(plain), out);
  return out;
}

std::vector<std::int64_t> ClipTokenizer::encode(std::string_view text, int max_length) const {
  std::vector<std::int64_t> ids{bos_};
  for (const auto& token : tokenize(text)) ids.push_back(id_of(token));
  if (max_length > 2 && ids.size() + 1 > static_cast<std::size_t>(max_length))
    ids.resize(static_cast<std::size_t>(max_length) - 1);
  ids.push_back(eos_);
  return ids;
}

TokenBatch ClipTokenizer::encode_batch(const std::vector<std::string>& texts,
                                       int max_length) const {
  TokenBatch batch;
  std::size_t longest = 0;
  for (const auto& t : texts) {
    batch.ids.push_back(encode(t, max_length));
    batch.lengths.push_back(batch.ids.back().size());
    longest = std::max(longest, batch.ids.back().size());
  }
  for (auto& ids : batch.ids) {
    std::vector<std::int64_t> mask(longest, 0);
    std::fill_n(mask.begin(), ids.size(), 1);
    ids.resize(longest, pad_);
    batch.mask.push_back(std::move(mask));
  }
  return batch;
}

bool ClipTokenizer::dir_has_tokenizer(const fs::path& dir) {
  return (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) ||
         fs::exists(dir / "tokenizer.json");
}

namespace {

// A special token's text from tokenizer_config.json / special_tokens_map.json: a string, or an
// AddedToken object {"content": ...}.
std::string token_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return "";
}

std::string pad_token_of(const fs::path& dir) {
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const fs::path path = dir / name;
    if (!fs::exists(path)) continue;
    const nlohmann::json j = parse_json(read_text_file(path), path.string());
    if (j.is_object() && j.contains("pad_token")) {
      if (std::string t = token_text(j["pad_token"]); !t.empty()) return t;
    }
  }
  return std::string(kEos);
}

}  // namespace

ClipTokenizer ClipTokenizer::from_dir(const fs::path& dir, Flavor flavor) {
  std::unordered_map<std::string, std::int64_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  const fs::path vocab_path = dir / "vocab.json", merges_path = dir / "merges.txt";
  if (fs::exists(vocab_path) && fs::exists(merges_path)) {
    const nlohmann::json v = parse_json(read_text_file(vocab_path), vocab_path.string());
    if (!v.is_object())
      throw Error(ErrorKind::kFormat, vocab_path.string(), "expected a JSON object");
    for (const auto& [token, id] : v.items()) {
      if (!id.is_number_integer())
        throw Error(ErrorKind::kFormat, vocab_path.string(), "the id of a token is not an integer");
      vocab.emplace(token, id.get<std::int64_t>());
    }
    const std::string text = read_text_file(merges_path);
    std::size_t pos = text.find('\n');  // the first line is skipped, whatever it holds
    pos = pos == std::string::npos ? text.size() : pos + 1;
    std::size_t line_no = 1;
    // Python: text.strip().split("\n")[1:...]: trailing blank lines are gone, a blank line
    // inside would be a malformed merge.
    std::string_view rest(text);
    rest = rest.substr(pos);
    while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' '))
      rest.remove_suffix(1);
    while (!rest.empty() && merges.size() < kMaxMerges) {
      ++line_no;
      const auto nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      const auto sp = line.find(' ');
      if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size() ||
          line.find(' ', sp + 1) != std::string_view::npos)
        throw Error(ErrorKind::kFormat, merges_path.string(),
                    "line " + std::to_string(line_no) + " is not two symbols separated by a space");
      merges.emplace_back(std::string(line.substr(0, sp)), std::string(line.substr(sp + 1)));
    }
  } else if (const fs::path tj = dir / "tokenizer.json"; fs::exists(tj)) {
    const nlohmann::json j = parse_json(read_text_file(tj), tj.string());
    const auto* model = j.is_object() && j.contains("model") ? &j["model"] : nullptr;
    if (model == nullptr || !model->is_object() || model->value("type", "BPE") != "BPE" ||
        !model->contains("vocab") || !(*model)["vocab"].is_object() || !model->contains("merges") ||
        !(*model)["merges"].is_array())
      throw Error(ErrorKind::kFormat, tj.string(), "no BPE model with vocab and merges");
    for (const auto& [token, id] : (*model)["vocab"].items()) {
      if (!id.is_number_integer())
        throw Error(ErrorKind::kFormat, tj.string(), "the id of a token is not an integer");
      vocab.emplace(token, id.get<std::int64_t>());
    }
    for (const auto& m : (*model)["merges"]) {
      // "a b" (tokenizers < 0.20) or ["a", "b"].
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const auto sp = s.find(' ');
        if (sp == std::string::npos)
          throw Error(ErrorKind::kFormat, tj.string(), "a merge is not two symbols: " + s);
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        throw Error(ErrorKind::kFormat, tj.string(), "a merge is not two symbols");
      }
    }
  } else {
    throw Error(ErrorKind::kNotFound, dir.string(),
                "no tokenizer: neither vocab.json + merges.txt nor tokenizer.json");
  }
  return ClipTokenizer(std::move(vocab), std::move(merges), pad_token_of(dir), flavor);
}

}  // namespace binscan

// The escaping layer (util/escape.h) and the shard-name rule (util/shard_index.h): issue 10.
#include "util/escape.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/shard_index.h"

namespace binscan {
namespace {

TEST(Escape, HtmlEscapesMarkupQuotesAndControls) {
  EXPECT_EQ(html_escape(R"("><script>alert('x')</script>&)"),
            "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;");
  // NUL, ESC and C1 controls are not allowed in XML (SVG): replaced, never passed through.
  EXPECT_EQ(html_escape(std::string("a\0b\x1b[2Jc", 8)),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD[2Jc");
  EXPECT_EQ(html_escape("\xc2\x9b"), "\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("tab\there\nok \xc3\xa9"), "tab\there\nok \xc3\xa9");
  EXPECT_EQ(svg_escape("<x>"), "&lt;x&gt;");
}

TEST(Escape, InvalidUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(valid_utf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(valid_utf8("dir\xff/x"), "dir\xEF\xBF\xBD/x");
  EXPECT_EQ(valid_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(valid_utf8("\xf0\x9f\x97\x91"), "\xf0\x9f\x97\x91");                  // U+1F5D1
  EXPECT_EQ(html_escape("a\xfe<"), "a\xEF\xBF\xBD&lt;");
}

TEST(Escape, JsonTextNeverThrowsOnInvalidUtf8) {
  nlohmann::json j = {{"path", "/photos/dir\xff/\xc3(.jpg"}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);  // what exited 70 before
  const std::string text = json_text(j);
  EXPECT_TRUE(nlohmann::json::accept(text));
  EXPECT_EQ(nlohmann::json::parse(text)["path"], "/photos/dir\xEF\xBF\xBD/\xEF\xBF\xBD(.jpg");
  nlohmann::ordered_json o = {{"a", "\xff"}};
  EXPECT_TRUE(nlohmann::json::accept(json_text(o, 1)));
}

TEST(Escape, ScriptJsonCannotEndOrCommentOutItsScript) {
  const nlohmann::ordered_json v = {{"path", "</script><!--<img src=x>\xff"}, {"n", 1.5}};
  const std::string s = script_json(v);
  EXPECT_EQ(s.find('<'), std::string::npos) << s;
  EXPECT_NE(s.find("\\u003c/script>"), std::string::npos) << s;
  // The same data, read back as JSON (and so as JavaScript); the invalid byte as U+FFFD.
  const auto back = nlohmann::json::parse(s);
  EXPECT_EQ(back["path"], "</script><!--<img src=x>\xEF\xBF\xBD");
  EXPECT_EQ(back["n"], 1.5);
}

TEST(Escape, CsvNeutralisesFormulasButKeepsNumbers) {
  EXPECT_EQ(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
  EXPECT_EQ(csv_field("+1+2"), "'+1+2");
  EXPECT_EQ(csv_field("-2+3"), "'-2+3");
  EXPECT_EQ(csv_field("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(csv_field("\tx"), "'\tx");
  EXPECT_EQ(csv_field("\rx"), "\"'\rx\"");
  // Numbers stay numbers: a negative longitude, an exponent.
  EXPECT_EQ(csv_field("-3.5"), "-3.5");
  EXPECT_EQ(csv_field("+12"), "+12");
  EXPECT_EQ(csv_field("-1e-5"), "-1e-5");
  EXPECT_EQ(csv_field("plain, text"), "\"plain, text\"");
  EXPECT_EQ(csv_field("bad\xff"), "bad\xEF\xBF\xBD");
  EXPECT_TRUE(is_plain_number("-0.25"));
  EXPECT_FALSE(is_plain_number("-"));
  EXPECT_FALSE(is_plain_number("1."));
  EXPECT_FALSE(is_plain_number("-1+1"));
}

TEST(Escape, TerminalTextEscapesControlsAndInvalidBytes) {
  EXPECT_EQ(terminal_text("\x1b]0;pwned\x07\x1b[2J"), "\\x1b]0;pwned\\x07\\x1b[2J");
  EXPECT_EQ(terminal_text(std::string("cut\0here", 8)), "cut\\x00here");
  EXPECT_EQ(terminal_text("a\nb\r"), "a b ");
  EXPECT_EQ(terminal_text("a\nb", /*keep_newlines=*/true), "a\nb");
  EXPECT_EQ(terminal_text("dir\xff"), "dir\\xff");
  EXPECT_EQ(terminal_text("\xc2\x9b"
                          "31m"),
            "\\xc2\\x9b31m");  // C1 CSI
  EXPECT_EQ(terminal_text("caf\xc3\xa9 \xf0\x9f\x97\x91"), "caf\xc3\xa9 \xf0\x9f\x97\x91");
  // The error line goes through the same function.
  EXPECT_EQ(format_error_line("f\x1b[31m", "x\xff"), "f\\x1b[31m: x\\xff");
}

TEST(ShardIndex, OneRuleForDownloaderLoaderAndModels) {
  EXPECT_TRUE(valid_shard_name("model-00001-of-00002.safetensors"));
  EXPECT_FALSE(valid_shard_name("sub/x.safetensors"));  // downloaded but never loaded before
  EXPECT_FALSE(valid_shard_name("/etc/passwd"));        // `models` said "ready"
  EXPECT_FALSE(valid_shard_name("../x.safetensors"));
  EXPECT_FALSE(valid_shard_name(std::string("x\0.safetensors", 14)));  // NUL: "success"
  EXPECT_FALSE(valid_shard_name(".safetensors"));
  EXPECT_FALSE(valid_shard_name("x.bin"));
  EXPECT_FALSE(valid_shard_name("a\\b.safetensors"));
  EXPECT_FALSE(valid_shard_name(std::string(300, 'a') + ".safetensors"));

  const auto map = parse_shard_index(
      R"({"weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-2.safetensors"}})",
      "index.json");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map.begin()->first, "m-1.safetensors");
  EXPECT_EQ(map.at("m-2.safetensors").size(), 2u);

  for (const char* bad :
       {R"({"weight_map": {"a": "sub/x.safetensors"}})", R"({"weight_map": {"a": "/etc/passwd"}})",
        R"({"weight_map": {"a": "x\u0000.safetensors"}})", R"({"weight_map": {}})",
        R"({"weight_map": {"a": 3}})", "[1,2", R"({"nope": 1})"}) {
    try {
      (void)parse_shard_index(bad, "index.json");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kFormat) << bad;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace binscan

// The CLIP tokenizer against an independent Python implementation of transformers'
// CLIPTokenizerFast and CLIPTokenizer (tests/reference/clip_tokenizer_reference.py,
// unicodedata-based), on a vocabulary and merges trained at test time on Debian's
// /usr/share/common-licenses texts and generated multilingual text: thousands of strings with
// punctuation, digits, accents, emoji, CJK, contractions, whitespace runs, control characters,
// special tokens, the empty string and over-long texts.
#include "text/clip_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// A trained model directory with strings.json and expected.json, made once for the suite.
class ClipTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const auto r = test::run_python("clip_tokenizer_reference.py",
                                    {"case", "--out", dir_->path().string(), "--count", "4000"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static const fs::path& dir() { return dir_->path(); }

  static void expect_reference_ids(const ClipTokenizer& tok, bool compare_tokens,
                                   const std::string& expected_file = "expected_fast.json") {
    const auto strings = read_json(dir() / "strings.json");
    const auto expected = read_json(dir() / expected_file);
    ASSERT_EQ(strings.size(), expected.size());
    ASSERT_GT(strings.size(), 3000u);
    int mismatches = 0;
    std::size_t truncated = 0, non_empty = 0;
    for (std::size_t i = 0; i < strings.size(); ++i) {
      const auto s = strings[i].get<std::string>();
      const auto want = expected[i]["ids"].get<std::vector<std::int64_t>>();
      const auto got = tok.encode(s);
      if (want.size() == 77) ++truncated;
      if (want.size() > 2) ++non_empty;
      bool ok = got == want;
      if (compare_tokens) ok = ok && tok.tokenize(s) == expected[i]["tokens"];
      if (!ok && ++mismatches <= 5)
        ADD_FAILURE() << "string " << i << " " << nlohmann::json(s).dump() << ": got "
                      << nlohmann::json(got).dump() << ", want " << nlohmann::json(want).dump();
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_GT(truncated, 50u) << "too few strings reach the context length";
    EXPECT_GT(non_empty, 3000u);
  }

  static test::TempDir* dir_;
};
test::TempDir* ClipTokenizerTest::dir_ = nullptr;

// The fast tokenizer: the default, what the zero-shot pipeline tokenizes with.
TEST_F(ClipTokenizerTest, IdsMatchIndependentReferenceFromVocabAndMerges) {
  const ClipTokenizer tok = ClipTokenizer::from_dir(dir());
  EXPECT_EQ(tok.eos_id() + 1, static_cast<std::int64_t>(tok.vocab_size()));
  EXPECT_EQ(tok.bos_id() + 1, tok.eos_id());
  EXPECT_EQ(tok.pad_id(), tok.eos_id());
  expect_reference_ids(tok, true);
}

TEST_F(ClipTokenizerTest, SlowTokenizerIdsMatchIndependentReference) {
  const ClipTokenizer tok = ClipTokenizer::from_dir(dir(), ClipTokenizer::Flavor::kSlow);
  expect_reference_ids(tok, true, "expected.json");
}

// Where the two differ, each as transformers does: CJK ideographs stay one word in the fast
// tokenizer (as in OpenAI's), the slow one splits them; control characters and U+FFFD are dropped
// by the slow one only; "<|ENDOFTEXT|>" is the end-of-text token once the fast normaliser has
// lower-cased it.
TEST_F(ClipTokenizerTest, FastAndSlowDifferWhereTransformersDo) {
  const ClipTokenizer fast = ClipTokenizer::from_dir(dir());
  const ClipTokenizer slow = ClipTokenizer::from_dir(dir(), ClipTokenizer::Flavor::kSlow);
  const auto words_of = [](const std::vector<std::string>& tokens) {
    return std::count_if(tokens.begin(), tokens.end(), [](const std::string& t) {
      return t.size() >= 4 && t.compare(t.size() - 4, 4, "</w>") == 0;
    });
  };
  EXPECT_EQ(words_of(fast.tokenize("垃圾桶")), 1);
  EXPECT_EQ(words_of(slow.tokenize("垃圾桶")), 3);
  EXPECT_EQ(slow.tokenize("a\007b"), slow.tokenize("ab"));
  EXPECT_NE(fast.tokenize("a\007b"), fast.tokenize("ab"));
  EXPECT_EQ(fast.encode("<|ENDOFTEXT|>"),
            (std::vector<std::int64_t>{fast.bos_id(), fast.eos_id(), fast.eos_id()}));
  EXPECT_EQ(fast.encode("a photo of a trash bin."), slow.encode("a photo of a trash bin."));
}

TEST_F(ClipTokenizerTest, TokenizerJsonAloneGivesTheSameIds) {
  test::TempDir only;
  fs::copy_file(dir() / "tokenizer.json", only / "tokenizer.json");
  const ClipTokenizer tok = ClipTokenizer::from_dir(only.path());
  const ClipTokenizer full = ClipTokenizer::from_dir(dir());
  EXPECT_EQ(tok.vocab_size(), full.vocab_size());
  const auto strings = read_json(dir() / "strings.json");
  for (std::size_t i = 0; i < strings.size(); i += 7)
    EXPECT_EQ(tok.encode(strings[i].get<std::string>()), full.encode(strings[i].get<std::string>()))
        << i;
}

TEST_F(ClipTokenizerTest, BatchPadsToTheLongestWithMask) {
  const ClipTokenizer tok = ClipTokenizer::from_dir(dir());
  const std::vector<std::string> texts{"a bin", "", "This is a photo of a green wheelie bin."};
  const TokenBatch b = tok.encode_batch(texts);
  ASSERT_EQ(b.ids.size(), 3u);
  const std::size_t longest = tok.encode(texts[2]).size();
  for (std::size_t i = 0; i < 3; ++i) {
    const auto alone = tok.encode(texts[i]);
    ASSERT_EQ(b.ids[i].size(), longest);
    EXPECT_EQ(b.lengths[i], alone.size());
    for (std::size_t t = 0; t < longest; ++t) {
      EXPECT_EQ(b.mask[i][t], t < alone.size() ? 1 : 0);
      EXPECT_EQ(b.ids[i][t], t < alone.size() ? alone[t] : tok.pad_id());
    }
  }
  std::string words;
  for (int i = 0; i < 100; ++i) words += "bin ";
  const auto ids = tok.encode(words);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), tok.bos_id());
  EXPECT_EQ(ids.back(), tok.eos_id());
  EXPECT_EQ(tok.encode(words, 0).size(), 102u);  // no truncation
}

TEST_F(ClipTokenizerTest, PadTokenFromTokenizerConfig) {
  test::TempDir d;
  for (const char* f : {"vocab.json", "merges.txt"}) fs::copy_file(dir() / f, d / f);
  std::ofstream(d / "tokenizer_config.json") << R"({"pad_token": {"content": "!"}})";
  const ClipTokenizer tok = ClipTokenizer::from_dir(d.path());
  EXPECT_NE(tok.pad_id(), tok.eos_id());
  EXPECT_EQ(tok.encode_batch({"a", "a bin bin"}).ids[0].back(), tok.pad_id());
}

TEST(ClipTokenizerFiles, ErrorsNameTheFile) {
  test::TempDir d;
  try {
    (void)ClipTokenizer::from_dir(d.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("vocab.json"), std::string::npos) << e.what();
  }
  std::ofstream(d / "vocab.json") << R"({"<|startoftext|>": 0, "<|endoftext|>": 1, "a": 2})";
  std::ofstream(d / "merges.txt") << "#version: 0.2\na b\nbroken\n";
  try {
    (void)ClipTokenizer::from_dir(d.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("merges.txt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  std::ofstream(d / "merges.txt", std::ios::trunc) << "#version: 0.2\na b\n";
  std::ofstream(d / "vocab.json", std::ios::trunc) << R"({"a": 2})";
  try {
    (void)ClipTokenizer::from_dir(d.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("<|startoftext|>"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace binscan

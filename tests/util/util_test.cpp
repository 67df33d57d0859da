#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <tuple>

#include "support/test_support.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/json_fields.h"
#include "util/progress.h"
#include "util/tensor.h"
#include "util/text.h"
#include "util/threads.h"

namespace binscan {
namespace {

// Decoding against the encoder (RFC 4648 test vectors and every length/byte value), plus what
// clients send that the encoder never writes: URL-safe letters, no padding, line breaks.
TEST(Base64, DecodesWhatEncodersWrite) {
  const std::pair<const char*, const char*> rfc[] = {{"", ""},
                                                     {"f", "Zg=="},
                                                     {"fo", "Zm8="},
                                                     {"foo", "Zm9v"},
                                                     {"foob", "Zm9vYg=="},
                                                     {"fooba", "Zm9vYmE="},
                                                     {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : rfc) {
    const std::string p = plain;
    EXPECT_EQ(base64_encode(std::vector<std::uint8_t>(p.begin(), p.end())), coded);
    EXPECT_EQ(base64_decode(coded), std::vector<std::uint8_t>(p.begin(), p.end())) << coded;
  }
  std::vector<std::uint8_t> all;
  for (int n = 0; n < 300; ++n) {
    all.push_back(static_cast<std::uint8_t>((n * 131 + 7) % 256));
    EXPECT_EQ(base64_decode(base64_encode(all)), all) << n;
  }
  EXPECT_EQ(base64_decode("Zm9vYg"), base64_decode("Zm9vYg=="));          // padding optional
  EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\n"), base64_decode("Zm9vYmFy"));  // MIME line breaks
  EXPECT_EQ(base64_decode("-_8="), base64_decode("+/8="));                // URL-safe alphabet
  EXPECT_FALSE(base64_decode("Zm9v!").has_value());
  EXPECT_FALSE(base64_decode("Zg==Zg").has_value());  // data after the padding
  EXPECT_FALSE(base64_decode("Zm9vY").has_value());   // a lone sixth bit group
}

TEST(Error, FormatsOneLineNamingTheSubject) {
  const Error e(ErrorKind::kFormat, "a/b.jpg", "truncated\nJPEG data");
  EXPECT_STREQ(e.what(), "a/b.jpg: truncated JPEG data");
  EXPECT_EQ(e.kind(), ErrorKind::kFormat);
}

TEST(WriteFileAtomically, LeavesNothingWhenTheWriterFails) {
  test::TempDir dir;
  const auto target = dir / "out.bin";
  EXPECT_THROW(
      write_file_atomically(
          target, [&](std::FILE*) { throw Error(ErrorKind::kIo, target.string(), "boom"); }),
      Error);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(ReadFile, NamesTheMissingPath) {
  try {
    read_file("/nonexistent/x.jpg");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/x.jpg"), std::string::npos);
  }
}

TEST(WriteNpy, NumpyReadsShapeAndValues) {
  test::TempDir dir;
  Tensor t({1, 3, 2, 2});
  for (std::size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<float>(i) * 0.5f - 1.0f;
  write_npy(dir / "t.npy", t);
  const auto r = test::run_command(
      {test::kPython, "-c",
       "import numpy as np,sys; a=np.load(sys.argv[1]); print(a.dtype, a.shape, float(a.sum()))",
       (dir / "t.npy").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "float32 (1, 3, 2, 2) 21.0\n");
}

}  // namespace
TEST(Progress, RatesKeepTheDigitsASlowRateNeeds) {
  EXPECT_EQ(format_rate(0.42, Progress::Unit::kItems), "0.42");
  EXPECT_EQ(format_rate(0.004, Progress::Unit::kItems), "0.00");
  EXPECT_EQ(format_rate(3.46, Progress::Unit::kItems), "3.5");
  EXPECT_EQ(format_rate(27.2, Progress::Unit::kItems), "27");
  EXPECT_EQ(format_rate(1.5e6, Progress::Unit::kBytes), "1.5 MB");
  EXPECT_EQ(format_rate(640, Progress::Unit::kBytes), "640 B");
}

}  // namespace binscan

namespace binscan {
namespace {

TEST(JsonPolicy, NestingIsBoundedBeforeParsing) {
  EXPECT_TRUE(json_depth_within(R"({"a": [[1], {"b": "[[[[[[[["}]})", 3));
  EXPECT_FALSE(json_depth_within("[[[[1]]]]", 3));
  EXPECT_TRUE(json_depth_within(R"(["\"[[[[[[", "\\", 1])", 1));  // brackets inside strings
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  try {
    (void)parse_json(deep, "reply.json");
    ADD_FAILURE() << "no error for 100k nested arrays";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTooLarge);
    EXPECT_EQ(e.subject(), "reply.json");
  }
  EXPECT_TRUE(parse_json("{not json", "x").is_discarded());
  EXPECT_EQ(parse_json(R"({"a": [1, 2]})", "x")["a"][1], 2);
}

TEST(JsonPolicy, ExcerptsAreBounded) {
  const nlohmann::json big = std::string(10'000, 'x');
  const std::string e = json_excerpt(big, 80);
  EXPECT_EQ(e.size(), 83u);
  EXPECT_EQ(e.substr(0, 2), "\"x");
  EXPECT_EQ(e.substr(80), "...");
  EXPECT_EQ(json_excerpt(nlohmann::json::array({1, 2})), "[1,2]");
}

TEST(ErrorLine, ControlBytesAreEscapedNotPrinted) {
  const std::string line =
      format_error_line(std::string("photo\x1b]0;pwned\x07.jpg", 19), std::string("a\0b\nc", 5));
  EXPECT_EQ(line, "photo\\x1b]0;pwned\\x07.jpg: a\\x00b c");
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace binscan

namespace binscan {
namespace {

// The one set of field validators the config readers share: the file, the key, what was
// expected and what was found, in one line.
TEST(JsonFields, WrongTypesAndRangesNameTheFileTheKeyAndWhatWasFound) {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using nlohmann::json;
  EXPECT_EQ(json_positive_int(json(7), "k", "c.json"), 7);
  EXPECT_EQ(message([] { json_positive_int(json(true), "size", "c.json"); }),
            "c.json: \"size\" must be a positive integer, got a boolean");
  EXPECT_EQ(message([] { json_positive_int(json(0), "size", "c.json"); }),
            "c.json: \"size\" must be a positive integer, got 0");
  EXPECT_EQ(message([] { json_positive_int(json(5000), "depth", "c.json", 1000); }),
            "c.json: \"depth\" is 5000, more than binscan's limit of 1000");
  EXPECT_EQ(message([] { json_finite_number(json("0.5"), "crop_pct", "p.json"); }),
            "p.json: \"crop_pct\" must be a number, got a string");
  EXPECT_EQ(message([] { json_bool(json(1), "do_resize", "p.json"); }),
            "p.json: \"do_resize\" must be true or false, got an integer");
  EXPECT_EQ(message([] { json_string(json::array(), "model_type", "c.json"); }),
            "c.json: \"model_type\" must be a string, got a list");
  EXPECT_DOUBLE_EQ(json_finite_number(json(2.5), "x", "c.json"), 2.5);
}

}  // namespace
}  // namespace binscan

namespace binscan {
namespace {

// How a scan's thread budget is cut up: one thread is one core taking turns; more threads become
// engine copies that divide them evenly, at least two photos of a batch each.
TEST(PlanPipelineThreads, CopiesDivideTheThreadsWithTwoPhotosEach) {
  ::unsetenv("BINSCAN_ENGINE_REPLICAS");
  const auto plan = [](int total, int batch) {
    const PipelineThreads t = plan_pipeline_threads(total, batch);
    return std::tuple{t.engine, t.workers, t.replicas, t.one_core};
  };
  EXPECT_EQ(plan(1, 8), std::tuple(1, 1, 1, true));
  EXPECT_EQ(plan(2, 8), std::tuple(2, 2, 2, false));
  EXPECT_EQ(plan(3, 8), std::tuple(3, 3, 3, false));
  EXPECT_EQ(plan(6, 8), std::tuple(6, 6, 3, false));
  EXPECT_EQ(plan(16, 8), std::tuple(16, 16, 4, false));
  EXPECT_EQ(plan(2, 1), std::tuple(2, 2, 1, false));  // one photo a batch: one engine
  EXPECT_EQ(plan(7, 8), std::tuple(7, 7, 1, false));  // a prime above the batch's half
  ::setenv("BINSCAN_ENGINE_REPLICAS", "9", 1);
  EXPECT_EQ(std::get<2>(plan(2, 8)), 2);
  ::unsetenv("BINSCAN_ENGINE_REPLICAS");
}

}  // namespace
}  // namespace binscan

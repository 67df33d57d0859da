// Usage errors exit with one status in every command (cli::kUsageExit, 2), and the commands that
// open a model share the same model flags.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/test_support.h"

namespace binscan {
namespace {

constexpr int kUsageExit = 2;  // README "How it is built", cli/commands.h

void expect_usage_error(const std::vector<std::string>& args) {
  const auto r = test::run_binscan(args);
  std::string line;
  for (const auto& a : args) line += " " + a;
  EXPECT_EQ(r.exit_code, kUsageExit) << "binscan" << line << "\n" << r.err;
  EXPECT_TRUE(r.out.empty()) << "binscan" << line << "\n" << r.out;
}

TEST(Usage, OneExitStatusForUsageErrorsInEveryCommand) {
  const std::string photo = test::all_photos().at(0).string();
  // Out of range, checked while parsing (CLI11 says 105 or 106 by itself).
  expect_usage_error({"scan", "--model", "m", "--batch", "0", photo});
  expect_usage_error({"scan", "--model", "m", "--threads", "-1", photo});
  expect_usage_error({"scan", "--model", "m", "--timeout", "0", photo});
  expect_usage_error({"scan", "--model", "m", "--retries", "-1", photo});
  expect_usage_error({"classify", "--model", "m", "--timeout", "0", photo});
  expect_usage_error({"classify", "--model", "m", "--threads", "-1", photo});
  expect_usage_error({"bench", "--model", "m", "--threads", "-1"});
  expect_usage_error({"classify", "--model", "m", "--token-file", "/nonexistent/token", photo});
  expect_usage_error({"preprocess", "--model", "m", "--token-file", "/nonexistent/t", photo});
  // Refused before any work (Error(kConfig)).
  expect_usage_error({"classify", "--model", "m", "--top-k", "0", photo});
  // Missing or unknown.
  expect_usage_error({"classify", photo});
  expect_usage_error({"preprocess", photo, "--npy", "x.npy"});
  expect_usage_error({"scan", "--model", "m"});
  expect_usage_error({"bench", "--model", "m", "--no-such-flag"});
  expect_usage_error({"merge", "--db"});
  expect_usage_error({});
}

TEST(Usage, EveryCommandThatOpensAModelHasTheModelFlags) {
  const std::vector<std::string> hub = {"--model", "--revision", "--token-file"};
  const std::vector<std::string> remote = {"--remote", "--endpoint", "--timeout", "--retries"};
  for (const std::string command : {"scan", "classify", "bench", "preprocess"}) {
    const auto r = test::run_binscan({command, "--help"});
    ASSERT_EQ(r.exit_code, 0) << command << r.err;
    for (const auto& flag : hub) {
      EXPECT_NE(r.out.find(flag), std::string::npos) << command << " lacks " << flag;
    }
    const bool runs_models = command == "scan" || command == "classify";
    for (const auto& flag : remote) {
      EXPECT_EQ(r.out.find(flag) != std::string::npos, runs_models) << command << " " << flag;
    }
    EXPECT_EQ(r.out.find("--threads") != std::string::npos, command != "preprocess") << command;
  }
}

}  // namespace
}  // namespace binscan

namespace binscan {
namespace {

// `bench --batch 1000000` ended in "internal error: std::bad_alloc" (issue 10).
TEST(Usage, AnAbsurdBenchBatchIsAConfigErrorNotABadAlloc) {
  const auto r = test::run_binscan({"bench", "--model", "/nonexistent", "--batch", "1000000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--batch: must be at most 1024"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace binscan

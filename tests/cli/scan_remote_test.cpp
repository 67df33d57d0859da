// binscan scan --remote against a local stand-in for the Inference API: only the top-k come back,
// so the stored bin score is a lower bound and the rank is known only within them.
#include <gtest/gtest.h>

#include <filesystem>

#include "support/fake_hub.h"
#include "support/sql_helpers.h"
#include "support/test_support.h"

namespace binscan {
namespace {
namespace fs = std::filesystem;

const std::string kBin =
    "ashcan, trash can, garbage can, wastebin, ash bin, ash-bin, ashbin, dustbin, trash barrel, "
    "trash bin";

TEST(ScanRemote, StoresTopKResultsAsLowerBounds) {
  test::TempDir dir;
  fs::create_directories(dir / "in");
  int n = 0;
  for (const auto& p : test::all_photos()) {
    if (fs::file_size(p) < 200000 && n < 3)
      fs::copy_file(p, dir / "in" / (std::to_string(n++) + ".jpg"));
  }
  ASSERT_EQ(n, 3);
  test::FakeInference api;
  api.script({{200, test::FakeInference::predictions_json(
                        {{"street sign", 0.5}, {kBin, 0.08}, {"bucket, pail", 0.05}})}});
  const auto db = dir / "s.db";
  const auto r = test::run_command(
      {test::binscan_binary().string(), "scan", (dir / "in").string(), "--remote", "--model",
       "org/model", "--endpoint", api.url(), "--db", db.string(), "--bin-label", "default",
       "--bin-label", "bucket, pail", "--top-k", "3", "--quiet"},
      {"HF_TOKEN=hf_test_token_123", "HF_HUB_OFFLINE="});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(api.requests().size(), 3u);
  EXPECT_EQ(r.out.find("hf_test_token_123"), std::string::npos);
  // 0.08 + 0.05 = 0.13 >= 0.1; rank 2; a lower bound of the true score.
  const auto rows = test::sql_rows(
      db,
      "SELECT model_id, revision, remote, bin_score_exact, bin_rank, known_ranks, verdict, "
      "round(bin_score, 9) FROM results");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) EXPECT_EQ(row, "org/model||1|0|2|3|1|0.13");
  // A second run asks the API nothing.
  const auto again = test::run_command(
      {test::binscan_binary().string(), "scan", (dir / "in").string(), "--remote", "--model",
       "org/model", "--endpoint", api.url(), "--db", db.string(), "--quiet"},
      {"HF_TOKEN=hf_test_token_123", "HF_HUB_OFFLINE="});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(api.requests().size(), 3u);
  // The token is in no file binscan wrote.
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM runs WHERE args LIKE '%hf_test%'"), 0);
}

}  // namespace
}  // namespace binscan

// End-to-end tests of binscan scan / compare / export through the binary, with two random-weight
// checkpoints (tests/reference/make_checkpoint.py tiny presets) on ../shared/data/photos.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "support/sql_helpers.h"
#include "support/test_support.h"

extern char** environ;

namespace binscan {
namespace {
namespace fs = std::filesystem;

const fs::path& models_dir() { return test::tiny_checkpoints(); }

std::vector<std::string> scan_args(const fs::path& db, const std::vector<std::string>& paths,
                                   int batch = 4) {
  std::vector<std::string> argv{test::binscan_binary().string(), "scan"};
  argv.insert(argv.end(), paths.begin(), paths.end());
  for (const char* m : {"vit", "resnet"}) {
    argv.push_back("--model");
    argv.push_back((models_dir() / m).string());
  }
  for (const std::string& a : std::vector<std::string>{
           "--db", db.string(), "--bin-label", "class_3", "--batch", std::to_string(batch)}) {
    argv.push_back(a);
  }
  return argv;
}

// The result rows without the timing columns (prepare_ms, infer_ms, batch_size, created_at).
std::vector<std::string> result_rows(const fs::path& db) {
  return test::sql_rows(db,
                        "SELECT sha256, model_id, revision, remote, top_k, top1_label, top1_score, "
                        "bin_score, bin_score_exact, bin_rank, known_ranks, bin_labels, threshold, "
                        "verdict FROM results ORDER BY sha256, model_id");
}

std::string last_line(const std::string& s) {
  auto t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

// A copy of some shared photos (the small ones first) in a fresh folder.
std::vector<fs::path> copy_photos(const fs::path& to, std::size_t count) {
  fs::create_directories(to);
  auto photos = test::all_photos();
  std::stable_sort(photos.begin(), photos.end(), [](const fs::path& a, const fs::path& b) {
    return fs::file_size(a) < fs::file_size(b);
  });
  std::vector<fs::path> out;
  for (std::size_t i = 0; i < count && i < photos.size(); ++i) {
    out.push_back(to / (std::to_string(i) + "-" + photos[i].filename().string()));
    fs::copy_file(photos[i], out.back());
  }
  return out;
}

// The full shared photo folder scanned once by both models, shared by several tests.
struct SharedScan {
  test::TempDir dir;
  fs::path db = dir / "survey.db";
  test::CommandResult first, second;
  SharedScan() {
    first = test::run_command(scan_args(db, {test::photos_dir().string()}));
    second = test::run_command(scan_args(db, {test::photos_dir().string()}));
  }
};
SharedScan& shared_scan() {
  static SharedScan* s = new SharedScan;
  return *s;
}

TEST(ScanCli, TwoModelsStoreEachPhotoOncePerModel) {
  auto& s = shared_scan();
  ASSERT_EQ(s.first.exit_code, 0) << s.first.err;
  const long photos = static_cast<long>(test::all_photos().size());
  EXPECT_EQ(last_line(s.first.out),
            "scanned " + std::to_string(photos + 1) + " files: " + std::to_string(photos) +
                " photos (" + std::to_string(photos) +
                " classified, 0 already done), 1 skipped (not images), 0 failed; " +
                std::to_string(2 * photos) + " new results from 2 models; 0 pending");
  EXPECT_NE(s.first.err.find("LICENSE: skipped: not an image"), std::string::npos);
  EXPECT_EQ(test::sql_count(s.db, "SELECT count(*) FROM photos"), photos);
  EXPECT_EQ(test::sql_count(s.db, "SELECT count(*) FROM results"), 2 * photos);
  EXPECT_EQ(
      test::sql_count(s.db, "SELECT count(*) FROM (SELECT DISTINCT sha256, model_id FROM results)"),
      2 * photos);
  EXPECT_EQ(test::sql_count(s.db, "SELECT count(DISTINCT model_id) FROM results"), 2);
  // Each result: 5 predictions, a verdict consistent with its score, a known rank.
  EXPECT_EQ(test::sql_count(s.db,
                            "SELECT count(*) FROM results WHERE json_array_length(top_k) != 5 "
                            "OR verdict != (bin_score >= threshold) OR bin_rank IS NULL "
                            "OR bin_score_exact != 1 OR threshold != 0.1"),
            0);
  // The photos' EXIF made it into the table: the trash-bin photos carry GPS and a bearing.
  EXPECT_EQ(test::sql_count(s.db,
                            "SELECT count(*) FROM photos WHERE path LIKE '%/trash-bin/%' AND "
                            "(lat IS NULL OR lon IS NULL OR bearing IS NULL OR taken_at IS NULL)"),
            0);
}

TEST(ScanCli, HelpJustifiesTheThreshold) {
  const auto r = test::run_command({test::binscan_binary().string(), "scan", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--threshold FLOAT:FLOAT in [0 - 1]=0.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1/1000"), std::string::npos);
  EXPECT_NE(r.out.find("Exit status"), std::string::npos);
}

TEST(ScanCli, ASecondRunDoesNoInference) {
  auto& s = shared_scan();
  ASSERT_EQ(s.second.exit_code, 0) << s.second.err;
  const long photos = static_cast<long>(test::all_photos().size());
  EXPECT_NE(
      last_line(s.second.out).find("(0 classified, " + std::to_string(photos) + " already done)"),
      std::string::npos)
      << s.second.out;
  EXPECT_NE(last_line(s.second.out).find("0 new results"), std::string::npos);
  // No row was written by the second run: every result is older than its start.
  const auto started = test::sql_rows(s.db, "SELECT started_at FROM runs ORDER BY id");
  ASSERT_EQ(started.size(), 2u);
  EXPECT_EQ(test::sql_count(
                s.db, "SELECT count(*) FROM results WHERE created_at >= '" + started[1] + "'"),
            0);
  const auto summary = nlohmann::json::parse(
      test::sql_rows(s.db, "SELECT summary FROM runs ORDER BY id DESC LIMIT 1").at(0));
  EXPECT_EQ(summary["total_new_results"], 0);
  EXPECT_EQ(summary["already_done"], photos);
}

TEST(ScanCli, ACorruptPhotoIsRecordedAndTheRestProcessed) {
  test::TempDir dir;
  const auto photos = copy_photos(dir / "in", 5);
  const auto bytes = test::run_command({"head", "-c", "20000", photos[2].string()}).out;
  std::ofstream(dir / "in" / "truncated.jpg", std::ios::binary) << bytes;
  std::ofstream(dir / "in" / "readme.md") << "# not a photo\n";
  const auto db = dir / "s.db";
  auto args = scan_args(db, {(dir / "in").string()});
  for (const char* a : {"--format", "json", "--threads", "2"}) args.push_back(a);
  const auto r = test::run_command(args);
  EXPECT_EQ(r.exit_code, 1) << r.err;  // something failed: not everything was processed
  const auto summary = nlohmann::json::parse(last_line(r.out));
  // How the 2 threads ran (batch 4): two single-threaded engine copies, in the output and the
  // run's record.
  const nlohmann::json plan{
      {"engine_threads", 2}, {"engine_copies", 2}, {"decode_workers", 2}, {"one_core", false}};
  EXPECT_EQ(summary["thread_plan"], plan);
  EXPECT_EQ(nlohmann::json::parse(test::sql_rows(db, "SELECT args FROM runs").at(0))["thread_plan"],
            plan);
  EXPECT_EQ(summary["failed"], 1);
  EXPECT_EQ(summary["not_images"], 1);
  EXPECT_EQ(summary["classified"], 5);
  EXPECT_EQ(summary["complete"], false);
  EXPECT_NE(r.err.find("truncated.jpg: failed:"), std::string::npos) << r.err;
  const auto err = test::sql_rows(db, "SELECT error FROM photos WHERE path LIKE '%truncated.jpg'");
  ASSERT_EQ(err.size(), 1u);
  EXPECT_NE(err[0].find("truncated"), std::string::npos) << err[0];
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 10);
  EXPECT_EQ(test::sql_count(db,
                            "SELECT count(*) FROM results r JOIN photos p USING (sha256) "
                            "WHERE p.error IS NOT NULL"),
            0);
}

pid_t spawn(const std::vector<std::string>& argv) { return test::spawn_silent(argv); }
int wait_for(pid_t pid) { return test::wait_exit(pid); }

TEST(ScanCli, KilledAtRandomMomentsAndRerunEndsWithTheRowsOfOneRun) {
  test::TempDir dir;
  copy_photos(dir / "in", 12);
  const auto ref_db = dir / "ref.db";
  ASSERT_EQ(test::run_command(scan_args(ref_db, {(dir / "in").string()})).exit_code, 0);
  const auto reference = result_rows(ref_db);
  ASSERT_EQ(reference.size(), 24u);

  const auto db = dir / "s.db";
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(50, 1500);
  int killed = 0;
  for (int round = 0; round < 6; ++round) {
    const pid_t pid = spawn(scan_args(db, {(dir / "in").string()}));
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(pid, SIGKILL);
    killed += wait_for(pid) == 128 + SIGKILL;
    // Whatever survived is whole: never more rows than one run, never a duplicate. A kill
    // between SQLite creating the file and the schema's commit leaves a file without tables.
    if (fs::exists(db) &&
        test::sql_count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'results'") > 0) {
      const auto rows = result_rows(db);
      EXPECT_LE(rows.size(), reference.size()) << "seed " << seed;
      for (const auto& row : rows) {
        EXPECT_NE(std::find(reference.begin(), reference.end(), row), reference.end())
            << "seed " << seed << ": a row no uninterrupted run has: " << row;
      }
    }
  }
  const auto last = test::run_command(scan_args(db, {(dir / "in").string()}));
  EXPECT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(result_rows(db), reference) << "seed " << seed << ", killed " << killed << " times";
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM photos"), 12);
}

TEST(ScanCli, CtrlCFinishesTheBatchAndExits130) {
  test::TempDir dir;
  // Every shared photo (the 12 MP ones too) at batch 1, so the signal lands mid-run.
  const auto photos = copy_photos(dir / "in", 1000);
  const long all_rows = 2 * static_cast<long>(photos.size());
  const auto db = dir / "s.db";
  const pid_t pid = spawn(scan_args(db, {(dir / "in").string()}, 1));
  ASSERT_GT(pid, 0);
  // Wait until the first batch is committed, then interrupt.
  for (int i = 0; i < 3000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      if (fs::exists(db) && test::sql_count(db, "SELECT count(*) FROM results") > 0) break;
    } catch (const std::exception&) {
      // the database is being created
    }
  }
  ::kill(pid, SIGINT);
  const int code = wait_for(pid);
  const long rows = test::sql_count(db, "SELECT count(*) FROM results");
  EXPECT_GT(rows, 0);
  if (rows < all_rows) {
    EXPECT_EQ(code, 130);
    EXPECT_EQ(test::sql_rows(db, "SELECT status FROM runs").at(0), "interrupted");
  } else {
    // The signal came after the last commit: nothing was left undone, so the run is complete.
    EXPECT_EQ(code, 0);
    EXPECT_EQ(test::sql_rows(db, "SELECT status FROM runs").at(0), "complete");
  }
  // Batches are whole: every photo has both results or none.
  EXPECT_EQ(test::sql_count(db,
                            "SELECT count(*) FROM (SELECT sha256 FROM results GROUP BY sha256 "
                            "HAVING count(*) != 2)"),
            0);
  const auto rerun = test::run_command(scan_args(db, {(dir / "in").string()}));
  EXPECT_EQ(rerun.exit_code, 0);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), all_rows);
}

TEST(ScanCli, TwoMachinesWithShardsMergeIntoTheRowsOfOneRun) {
  test::TempDir dir;
  copy_photos(dir / "in", 12);
  const auto whole = dir / "whole.db";
  // The shards batch the photos differently from the single run: the rows must still be equal
  // to the last bit (the engine's results do not depend on the batch).
  ASSERT_EQ(test::run_command(scan_args(whole, {(dir / "in").string()})).exit_code, 0);
  // "Machine 2" sees the same photos under another mount point.
  fs::create_directories(dir / "elsewhere");
  fs::copy(dir / "in", dir / "elsewhere" / "in", fs::copy_options::recursive);
  std::vector<std::string> parts;
  for (const char* k : {"1", "2"}) {
    const auto part = dir / (std::string("part") + k + ".db");
    const std::string root = (k[0] == '1' ? dir / "in" : dir / "elsewhere" / "in").string();
    auto args = scan_args(part, {root});
    args.insert(args.end(), {"--shard", std::string(k) + "/2"});
    const auto r = test::run_command(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("left to other shards"), std::string::npos) << r.out;
    parts.push_back(part.string());
  }
  // The shards split the photos: no photo in both, all of them in one or the other.
  const auto a = test::sql_rows(parts[0], "SELECT sha256 FROM photos ORDER BY sha256");
  const auto b = test::sql_rows(parts[1], "SELECT sha256 FROM photos ORDER BY sha256");
  EXPECT_FALSE(a.empty());
  EXPECT_FALSE(b.empty());
  for (const auto& sha : a) EXPECT_EQ(std::find(b.begin(), b.end(), sha), b.end()) << sha;
  EXPECT_EQ(a.size() + b.size(), 12u);

  const auto city = dir / "city.db";
  std::vector<std::string> merge{test::binscan_binary().string(), "merge", "--db", city.string()};
  merge.insert(merge.end(), parts.begin(), parts.end());
  const auto m = test::run_command(merge);
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.out.find("merged " + parts[1] + ": " + std::to_string(b.size()) + " new photos"),
            std::string::npos)
      << m.out;
  EXPECT_EQ(result_rows(city), result_rows(whole));
  // Merging again adds nothing; a bad source is one line, the exit status says so.
  const auto again = test::run_command(merge);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find(": 0 new photos, 0 new results"), std::string::npos) << again.out;
  const auto bad = test::run_command({test::binscan_binary().string(), "merge", "--db",
                                      city.string(), (dir / "in").string() + "/nothing.db"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("nothing.db"), std::string::npos) << bad.err;
  EXPECT_EQ(result_rows(city), result_rows(whole));
  const auto bad_shard = test::run_command(
      {test::binscan_binary().string(), "scan", (dir / "in").string(), "--model",
       (models_dir() / "vit").string(), "--db", (dir / "x.db").string(), "--shard", "3/2"});
  EXPECT_NE(bad_shard.exit_code, 0);
  EXPECT_NE(bad_shard.err.find("--shard 3/2"), std::string::npos) << bad_shard.err;
  EXPECT_FALSE(fs::exists(dir / "x.db"));  // refused before anything was written
}

TEST(ScanCli, RenamedPhotoIsRecognised) {
  test::TempDir dir;
  const auto photos = copy_photos(dir / "in", 3);
  const auto db = dir / "s.db";
  ASSERT_EQ(test::run_command(scan_args(db, {(dir / "in").string()})).exit_code, 0);
  fs::create_directories(dir / "in" / "moved");
  const auto moved = dir / "in" / "moved" / "renamed.jpg";
  fs::rename(photos[1], moved);
  const auto r = test::run_command(scan_args(db, {(dir / "in").string()}));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("(0 classified, 3 already done)"), std::string::npos) << r.out;
  EXPECT_EQ(
      test::sql_count(db, "SELECT count(*) FROM photos WHERE path = '" + moved.string() + "'"), 1);
  EXPECT_EQ(
      test::sql_count(db, "SELECT count(*) FROM paths WHERE path = '" + photos[1].string() + "'"),
      0);
}

TEST(ScanCli, ReportOpensInChromiumWithTheDatabaseCounts) {
  const fs::path chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps --with-browser installs it)";
  }
  auto& s = shared_scan();
  ASSERT_EQ(s.first.exit_code, 0);
  test::TempDir dir;
  const auto html = dir / "report.html";
  const auto r = test::run_command({test::binscan_binary().string(), "compare", "--db",
                                    s.db.string(), "--html", html.string(), "--csv",
                                    (dir / "c.csv").string(), "--json", (dir / "c.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto vit = (models_dir() / "vit").string();
  const auto resnet = (models_dir() / "resnet").string();
  const auto counts = nlohmann::json::parse(
      test::run_python("survey_check.py", {"counts", s.db.string(), vit, resnet}).out);
  EXPECT_NE(r.out.find("only A: " + std::to_string(counts["only_a"].get<int>())), std::string::npos)
      << r.out;
  const auto json =
      nlohmann::json::parse(test::run_command({"cat", (dir / "c.json").string()}).out);
  for (const char* k : {"both", "only_a", "only_b", "neither"})
    EXPECT_EQ(json["counts"][k], counts[k]) << k;
  const auto page = test::run_command(
      {chromium.string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
       "--no-first-run", "--disable-background-networking", "--disable-component-update",
       "--disable-sync", "--user-data-dir=" + (dir / "profile").string(), "--enable-logging=stderr",
       "--v=0", "--dump-dom", "file://" + html.string()});
  ASSERT_EQ(page.exit_code, 0) << page.err;
  // Console messages (errors included) appear as "CONSOLE" lines in Chromium's log.
  EXPECT_EQ(page.err.find(":CONSOLE"), std::string::npos) << page.err;
  std::ofstream(dir / "dom.html") << page.out;
  const auto check = test::run_python(
      "survey_check.py", {"report", s.db.string(), vit, resnet, (dir / "dom.html").string()});
  EXPECT_EQ(check.out, "ok\n") << check.err;
}

TEST(ScanCli, ExportsParseAndAgreeWithTheDatabaseAndExif) {
  auto& s = shared_scan();
  ASSERT_EQ(s.first.exit_code, 0);
  test::TempDir dir;
  for (const char* f : {"csv", "jsonl", "geojson"}) {
    const auto r =
        test::run_command({test::binscan_binary().string(), "export", "--db", s.db.string(),
                           "--format", f, "--output", (dir / (std::string("e.") + f)).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const auto check = test::run_python("survey_check.py",
                                      {"export", s.db.string(), (dir / "e.csv").string(),
                                       (dir / "e.jsonl").string(), (dir / "e.geojson").string()});
  // Every row's position is the one Pillow reads from the photo's EXIF; at least the 25 trash-bin
  // photos have GPS, so at least 50 features (2 models) were checked.
  ASSERT_EQ(check.out.rfind("ok ", 0), 0u) << check.err;
  EXPECT_GE(std::stoi(check.out.substr(3)), 50) << check.out;
  const auto stdout_csv = test::run_command(
      {test::binscan_binary().string(), "export", "--db", s.db.string(), "--format", "csv"});
  EXPECT_EQ(stdout_csv.out, test::run_command({"cat", (dir / "e.csv").string()}).out);
}

}  // namespace
}  // namespace binscan

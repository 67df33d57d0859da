#include "store/scan.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/sqlite_store.h"
#include "support/fake_classifier.h"
#include "support/sql_helpers.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {
namespace fs = std::filesystem;

// A folder of a few real photos, a nested one, a duplicate, a text file and a truncated JPEG.
struct Fixture {
  test::TempDir dir;
  fs::path root = dir / "photos";
  fs::path truncated;
  std::vector<fs::path> originals;
  Fixture() {
    fs::create_directories(root / "nested");
    const auto photos = test::all_photos();
    // Small ones keep the suite quick: the cats photo and the phone-sized bike photos.
    for (const auto& p : photos) {
      if (fs::file_size(p) < 220000 && originals.size() < 4) originals.push_back(p);
    }
    for (std::size_t i = 0; i < originals.size(); ++i) {
      fs::copy_file(originals[i], root / ("p" + std::to_string(i) + ".jpg"));
    }
    fs::copy_file(originals[0], root / "nested" / "copy-of-p0.jpg");
    fs::copy_file(photos.back(), root / "nested" / "big.jpg");
    std::ofstream(root / "notes.txt") << "not a photo\n";
    const auto bytes = read_file(originals[1]);
    truncated = root / "truncated.jpg";
    std::ofstream(truncated, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size() / 2));
  }
};

ScanOptions quiet(int batch = 2) {
  ScanOptions o;
  o.pipeline.batch = batch;
  o.pipeline.workers = 2;
  o.show_progress = false;
  return o;
}

std::vector<ScanModel> models_of(std::vector<test::FakeClassifier*> fakes) {
  std::vector<ScanModel> out;
  for (auto* f : fakes) {
    ScanModel m;
    m.classifier = f;
    m.key = {f->info().id, f->info().revision};
    m.bins = resolve_bin_labels({"label 3"}, f->info());
    out.push_back(m);
  }
  return out;
}

// Every result row without its timing columns.
std::vector<std::string> result_rows(const fs::path& db) {
  return test::sql_rows(db,
                        "SELECT sha256, model_id, revision, top_k, bin_score, bin_rank, verdict, "
                        "threshold, bin_labels FROM results ORDER BY sha256, model_id");
}

TEST(Scan, StoresEachPhotoOncePerModelAndRecordsFailures) {
  Fixture fx;
  ASSERT_EQ(fx.originals.size(), 4u);
  const auto db = fx.dir / "s.db";
  SqliteStore store(db);
  test::FakeClassifier a("model-a", 10), b("model-b", 7);
  auto models = models_of({&a, &b});
  std::vector<std::string> notes;
  auto options = quiet();
  options.note = [&](const std::string& p, NoteSeverity, const std::string& n) {
    notes.push_back(p + ": " + n);
  };
  const auto s = run_scan(&store, {fx.root}, models, options);
  EXPECT_EQ(s.files, 8);
  EXPECT_EQ(s.images, 7);
  EXPECT_EQ(s.not_images, 1);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(s.duplicates, 1);
  EXPECT_EQ(s.classified, 5);
  EXPECT_EQ(s.new_results, (std::vector<int>{5, 5}));
  EXPECT_EQ(s.pending, 0);
  EXPECT_FALSE(s.interrupted);
  EXPECT_FALSE(s.complete());  // a photo failed
  EXPECT_EQ(a.classified.load(), 5);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 10);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE model_id='model-a'"), 5);
  EXPECT_EQ(test::sql_count(db, "SELECT count(DISTINCT sha256) FROM results"), 5);
  // The truncated file: a photo row with its error, no results.
  const auto failed = test::sql_rows(db, "SELECT path, error FROM photos WHERE error IS NOT NULL");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].substr(0, failed[0].find('|')), fx.truncated.string());
  EXPECT_NE(failed[0].find("truncated"), std::string::npos) << failed[0];
  // Both paths of the duplicated content are known.
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM paths"), 7);
  bool noted_text = false;
  for (const auto& n : notes) noted_text |= n.find("notes.txt: skipped") != std::string::npos;
  EXPECT_TRUE(noted_text);
  // Results carry the verdict computed from the stored score and threshold.
  EXPECT_EQ(
      test::sql_count(db, "SELECT count(*) FROM results WHERE verdict != (bin_score >= threshold)"),
      0);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE bin_labels != '[\"label 3\"]'"),
            0);
}

TEST(Scan, SecondRunDoesNoInferenceAndRenamedFilesAreRecognised) {
  Fixture fx;
  const auto db = fx.dir / "s.db";
  SqliteStore store(db);
  test::FakeClassifier a("model-a", 10), b("model-b", 7);
  auto models = models_of({&a, &b});
  run_scan(&store, {fx.root}, models, quiet());
  const auto before = result_rows(db);
  const auto created =
      test::sql_rows(db, "SELECT created_at FROM results ORDER BY sha256, model_id");
  a.runs = 0;
  a.prepared = 0;
  b.runs = 0;
  fs::rename(fx.root / "p2.jpg", fx.root / "nested" / "renamed.jpg");
  const auto s = run_scan(&store, {fx.root}, models, quiet());
  EXPECT_EQ(a.runs.load() + b.runs.load(), 0);
  EXPECT_EQ(a.prepared.load(), 0);
  EXPECT_EQ(s.total_new_results(), 0);
  EXPECT_EQ(s.already_done, 5);
  EXPECT_EQ(s.relocated, 1);
  EXPECT_EQ(result_rows(db), before);
  EXPECT_EQ(test::sql_rows(db, "SELECT created_at FROM results ORDER BY sha256, model_id"),
            created);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM photos WHERE path LIKE '%renamed.jpg'"), 1);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM paths WHERE path LIKE '%p2.jpg'"), 0);

  // A third model later: only it runs.
  test::FakeClassifier c("model-c", 5);
  auto three = models_of({&a, &b, &c});
  const auto s3 = run_scan(&store, {fx.root}, three, quiet());
  EXPECT_EQ(a.runs.load() + b.runs.load(), 0);
  EXPECT_EQ(s3.new_results, (std::vector<int>{0, 0, 5}));
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 15);
}

TEST(Scan, StopLeavesWholeBatchesAndARerunCompletesTheSameRows) {
  Fixture fx;
  test::FakeClassifier a("model-a", 10), b("model-b", 7);
  // Reference: one uninterrupted run.
  const auto ref_db = fx.dir / "ref.db";
  {
    SqliteStore store(ref_db);
    auto models = models_of({&a, &b});
    run_scan(&store, {fx.root}, models, quiet(1));
  }
  const auto db = fx.dir / "s.db";
  SqliteStore store(db);
  std::atomic<bool> stop{false};
  // Ask to stop while the first batch is being classified.
  struct StoppingFake : test::FakeClassifier {
    std::atomic<bool>* flag;
    StoppingFake(std::atomic<bool>* f) : FakeClassifier("model-a", 10), flag(f) {}
    std::vector<ClassifyOutcome> run(std::span<const PreparedInput> in, int k) override {
      flag->store(true);
      return FakeClassifier::run(in, k);
    }
  } stopping(&stop);
  auto models = models_of({&stopping, &b});
  auto options = quiet(1);
  options.pipeline.stop = &stop;
  const auto s = run_scan(&store, {fx.root}, models, options);
  EXPECT_TRUE(s.interrupted);
  EXPECT_FALSE(s.complete());
  EXPECT_GT(s.pending, 0);
  // The batch in flight was finished: one photo with both models' results, nothing half done.
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 2);
  stop = false;
  auto models2 = models_of({&a, &b});
  const auto s2 = run_scan(&store, {fx.root}, models2, quiet(3));
  EXPECT_EQ(s2.pending, 0);
  EXPECT_EQ(result_rows(db), result_rows(ref_db));
}

TEST(Scan, AFailingInferenceLeavesThatPhotoPendingOnly) {
  Fixture fx;
  const auto db = fx.dir / "s.db";
  SqliteStore store(db);
  test::FakeClassifier a("model-a", 10), b("model-b", 7);
  b.fail_names.insert((fx.root / "p1.jpg").string());
  auto models = models_of({&a, &b});
  std::vector<std::string> notes;
  auto options = quiet(4);
  options.note = [&](const std::string& p, NoteSeverity, const std::string& n) {
    notes.push_back(p + ": " + n);
  };
  const auto s = run_scan(&store, {fx.root}, models, options);
  EXPECT_EQ(s.model_failures, 1);
  EXPECT_EQ(s.pending, 1);
  EXPECT_EQ(s.new_results, (std::vector<int>{5, 4}));
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE model_id='model-b'"), 4);
  // The next run retries only that (photo, model).
  b.fail_names.clear();
  a.runs = 0;
  const auto s2 = run_scan(&store, {fx.root}, models, quiet());
  EXPECT_EQ(s2.new_results, (std::vector<int>{0, 1}));
  EXPECT_EQ(a.runs.load(), 0);
}

TEST(Scan, RemoteResultsAreMarkedAsLowerBounds) {
  Fixture fx;
  const auto db = fx.dir / "s.db";
  SqliteStore store(db);
  test::FakeClassifier r("org/remote", 10, /*remote=*/true);
  std::vector<ScanModel> models(1);
  models[0].classifier = &r;
  models[0].key = {"org/remote", ""};
  models[0].bins = resolve_bin_labels({"label 3"}, r.info());
  auto options = quiet();
  options.pipeline.top_k = 3;
  run_scan(&store, {fx.root}, models, options);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE bin_score_exact = 1"), 0);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE remote = 1"), 5);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE known_ranks != 3"), 0);
  // A rank is recorded exactly when a bin label was among the top 3.
  EXPECT_EQ(test::sql_count(db,
                            "SELECT count(*) FROM results WHERE (bin_rank IS NULL) != "
                            "(instr(top_k, '\"label 3\"') = 0)"),
            0);
}

TEST(Shard, AFilesShardIsFnv1aOfItsPathBelowItsFolderArgument) {
  // Expected values computed with Python from the FNV-1a definition (offset basis
  // 0xcbf29ce484222325, prime 0x100000001b3) of the relative path's UTF-8 bytes.
  const std::vector<fs::path> roots{"/mnt/photos"};
  EXPECT_EQ(shard_of("/mnt/photos/trash-bin/PXL_20220119_105237021.jpg", roots, 4), 4);
  EXPECT_EQ(shard_of("/mnt/photos/a/b.jpg", roots, 4), 1);
  // Another machine mounts the same photos elsewhere: the same shards.
  EXPECT_EQ(shard_of("/data/survey/a/b.jpg", {"/data/survey"}, 4), 1);
  EXPECT_EQ(shard_of("/data/survey/trash-bin/PXL_20220119_105237021.jpg", {"/data/survey/"}, 2), 2);
  // A file given directly: its name.
  EXPECT_EQ(shard_of("/somewhere/photo.jpg", {"/somewhere/photo.jpg"}, 4), 3);
  EXPECT_EQ(shard_of("/x/photo.jpg", {}, 2), 1);
  EXPECT_EQ(shard_of("/x/photo.jpg", {}, 1), 1);
}

TEST(Shard, ShardsSplitAFolderAndTogetherStoreWhatOneRunStores) {
  Fixture f;
  test::FakeClassifier a("model-a", 10);
  auto models = models_of({&a});
  const ScanOptions whole_options = quiet();
  {
    SqliteStore whole(f.dir / "whole.db");
    run_scan(&whole, {f.root}, models, whole_options);
  }

  int taken = 0, left = 0;
  SqliteStore city(f.dir / "city.db");
  for (int k = 1; k <= 3; ++k) {
    ScanOptions o = whole_options;
    o.shard = k;
    o.shards = 3;
    const auto part = f.dir / ("part" + std::to_string(k) + ".db");
    ScanSummary s;
    {
      SqliteStore store(part);
      s = run_scan(&store, {f.root}, models, o);
    }
    taken += s.images + s.not_images;
    left += s.other_shards;
    EXPECT_EQ(s.files, s.images + s.not_images + s.other_shards);
    city.merge_from(part);
  }
  // Every one of the 8 files (6 photos, the truncated one, the text) in exactly one shard.
  EXPECT_EQ(taken, 8);
  EXPECT_EQ(left, 2 * 8);
  EXPECT_EQ(result_rows(f.dir / "city.db"), result_rows(f.dir / "whole.db"));
  EXPECT_FALSE(result_rows(f.dir / "city.db").empty());
  const char* photos = "SELECT sha256, size, error IS NULL FROM photos ORDER BY sha256";
  EXPECT_EQ(test::sql_rows(f.dir / "city.db", photos), test::sql_rows(f.dir / "whole.db", photos));
}

}  // namespace
}  // namespace binscan

#include "survey/store.h"

#include <gtest/gtest.h>

#include "sql_helpers.h"
#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

ResultRecord result(const std::string& sha, const std::string& model) {
  ResultRecord r;
  r.sha256 = sha;
  r.model = {model, "r1"};
  r.top_json = R"([{"label":"a","score":0.5}])";
  r.top1_label = "a";
  r.top1_score = 0.5;
  r.bin_score = 0.25;
  r.bin_rank = 2;
  r.known_ranks = 10;
  r.bin_labels_json = R"(["b"])";
  r.threshold = 0.1;
  r.verdict = true;
  return r;
}

PhotoRecord photo(const std::string& sha, const std::string& path) {
  PhotoRecord p;
  p.sha256 = sha;
  p.path = path;
  p.size = 123;
  p.lat = 52.5;
  p.lon = 4.25;
  return p;
}

TEST(Store, CreatesAVersionedSchemaInWalMode) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  { Store store(db); }
  EXPECT_EQ(test::sql_rows(db, "PRAGMA user_version").at(0), std::to_string(Store::kSchemaVersion));
  EXPECT_EQ(test::sql_rows(db, "PRAGMA journal_mode").at(0), "wal");
  EXPECT_EQ(test::sql_count(db,
                            "SELECT count(*) FROM sqlite_master WHERE name IN "
                            "('photos','paths','results','runs')"),
            4);
}

TEST(Store, RefusesNewerSchemasAndForeignFiles) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  { Store store(db); }
  {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_exec(h, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  try {
    Store store(db);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
  const auto other = dir / "other.db";
  {
    sqlite3* h = nullptr;
    sqlite3_open(other.c_str(), &h);
    sqlite3_exec(h, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  EXPECT_THROW(Store s(other), Error);
  const auto text = dir / "text.db";
  {
    std::FILE* f = std::fopen(text.c_str(), "w");
    std::fputs(
        "hello, this is not sqlite at "
        "all....................................................................................",
        f);
    std::fclose(f);
  }
  EXPECT_THROW(Store s(text), Error);
  EXPECT_THROW(Store s(dir / "missing.db", Store::Mode::kReadOnly), Error);
}

TEST(Store, ResultsAreUniquePerPhotoAndModel) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  Store store(db);
  CommitBatch b;
  b.photos = {photo("aa", "/p/a.jpg")};
  b.results = {result("aa", "m1"), result("aa", "m2")};
  store.commit(b);
  store.commit(b);  // again: nothing duplicated
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 2);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM photos"), 1);
  const auto st = store.photo_state("aa");
  EXPECT_TRUE(st.known);
  EXPECT_EQ(st.models_done.size(), 2u);
  EXPECT_FALSE(store.photo_state("bb").known);
}

TEST(Store, ABatchIsAllOrNothing) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  Store store(db);
  CommitBatch b;
  b.photos = {photo("aa", "/p/a.jpg")};
  b.results = {result("aa", "m1"), result("zz", "m1")};  // "zz" has no photo row: FK violation
  EXPECT_THROW(store.commit(b), Error);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM photos"), 0);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 0);
}

TEST(Store, RelocationAndPruningOfVanishedPaths) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  Store store(db);
  const auto kept = dir / "kept.jpg";
  {
    std::FILE* f = std::fopen(kept.c_str(), "w");
    std::fclose(f);
  }
  CommitBatch b;
  b.photos = {photo("aa", (dir / "gone.jpg").string())};
  b.paths = {{(dir / "gone.jpg").string(), "aa", 1, 2},
             {kept.string(), "aa", 1, 3},
             {"/elsewhere/x.jpg", "aa", 1, 4}};
  b.relocations = {{"aa", kept.string()}};
  store.commit(b);
  EXPECT_EQ(store.photos().at(0).path, kept.string());
  EXPECT_EQ(store.prune_missing_paths({dir.path()}), 1);  // gone.jpg; /elsewhere is not under it
  EXPECT_EQ(test::sql_rows(db, "SELECT path FROM paths ORDER BY path"),
            (std::vector<std::string>{"/elsewhere/x.jpg", kept.string()}));
  const auto rec = store.find_path(kept.string());
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->mtime_ns, 3);
}

}  // namespace
}  // namespace binscan

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "store/sqlite_store.h"
#include "support/sql_helpers.h"
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
  { SqliteStore store(db); }
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
  { SqliteStore store(db); }
  {
    sqlite3* h = nullptr;
    sqlite3_open(db.c_str(), &h);
    sqlite3_exec(h, "PRAGMA user_version=99", nullptr, nullptr, nullptr);
    sqlite3_close(h);
  }
  try {
    SqliteStore store(db);
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
  EXPECT_THROW(SqliteStore s(other), Error);
  const auto text = dir / "text.db";
  {
    std::FILE* f = std::fopen(text.c_str(), "w");
    std::fputs(
        "hello, this is not sqlite at "
        "all....................................................................................",
        f);
    std::fclose(f);
  }
  EXPECT_THROW(SqliteStore s(text), Error);
  EXPECT_THROW(SqliteStore s(dir / "missing.db", Store::Mode::kReadOnly), Error);
}

TEST(Store, ResultsAreUniquePerPhotoAndModel) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  SqliteStore store(db);
  CommitBatch b;
  b.photos = {photo("aa", "/p/a.jpg")};
  b.results = {result("aa", "m1"), result("aa", "m2")};
  EXPECT_EQ(store.commit(b), (std::vector<bool>{true, true}));
  // Again, as a second scan of the same survey would: nothing duplicated, and the store says
  // which results it did not keep, so that scan does not count them as new.
  EXPECT_EQ(store.commit(b), (std::vector<bool>{false, false}));
  b.results.push_back(result("aa", "m3"));
  SqliteStore other(db);  // another process's connection
  EXPECT_EQ(other.commit(b), (std::vector<bool>{false, false, true}));
  b.results.pop_back();
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results"), 3);
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM photos"), 1);
  const auto st = store.photo_state("aa");
  EXPECT_TRUE(st.known);
  EXPECT_EQ(st.models_done.size(), 3u);
  EXPECT_FALSE(store.photo_state("bb").known);
}

TEST(Store, ABatchIsAllOrNothing) {
  test::TempDir dir;
  const auto db = dir / "s.db";
  SqliteStore store(db);
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
  SqliteStore store(db);
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

void sql_exec(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  sqlite3_open(db.c_str(), &h);
  ASSERT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
  sqlite3_close(h);
}

TEST(StoreMerge, JoinsTwoMachinesDatabasesOnceAndKeepsTheLatestSighting) {
  test::TempDir dir;
  const auto a = dir / "a.db", b = dir / "b.db", city = dir / "city.db";
  {
    SqliteStore s(a);
    CommitBatch batch;
    batch.photos = {
        photo("1111111111111111111111111111111111111111111111111111111111111111", "/m1/one.jpg"),
        photo("2222222222222222222222222222222222222222222222222222222222222222", "/m1/two.jpg")};
    batch.paths = {
        {"/m1/one.jpg", "1111111111111111111111111111111111111111111111111111111111111111", 123, 1},
        {"/m1/two.jpg", "2222222222222222222222222222222222222222222222222222222222222222", 123,
         1}};
    batch.results = {
        result("1111111111111111111111111111111111111111111111111111111111111111", "vit"),
        result("2222222222222222222222222222222222222222222222222222222222222222", "vit")};
    s.commit(batch);
    s.end_run(s.begin_run("{\"machine\":1}"), "complete", "{}");
  }
  {
    SqliteStore s(b);
    CommitBatch batch;
    auto moved = photo("2222222222222222222222222222222222222222222222222222222222222222",
                       "/m2/two-renamed.jpg");
    moved.lat = 10.0;
    batch.photos = {moved, photo("3333333333333333333333333333333333333333333333333333333333333333",
                                 "/m2/three.jpg")};
    batch.paths = {{"/m2/two-renamed.jpg",
                    "2222222222222222222222222222222222222222222222222222222222222222", 123, 2},
                   {"/m2/three.jpg",
                    "3333333333333333333333333333333333333333333333333333333333333333", 123, 2}};
    auto other = result("2222222222222222222222222222222222222222222222222222222222222222", "vit");
    other.bin_score = 0.75;  // a different result for a (photo, model) the target already has
    batch.results = {
        other, result("3333333333333333333333333333333333333333333333333333333333333333", "vit"),
        result("2222222222222222222222222222222222222222222222222222222222222222", "resnet")};
    s.commit(batch);
    s.end_run(s.begin_run("{\"machine\":2}"), "complete", "{}");
  }
  // Machine 2 saw s2 later; machine 1 saw it first.
  sql_exec(a,
           "UPDATE photos SET first_seen='2026-01-01T00:00:00.000Z', "
           "last_seen='2026-01-01T00:00:00.000Z'");
  sql_exec(b,
           "UPDATE photos SET first_seen='2026-02-01T00:00:00.000Z', "
           "last_seen='2026-02-01T00:00:00.000Z'");

  SqliteStore target(city);
  const MergeCounts from_a = target.merge_from(a);
  EXPECT_EQ(from_a.photos, 2);
  EXPECT_EQ(from_a.results, 2);
  EXPECT_EQ(from_a.runs, 1);
  const MergeCounts from_b = target.merge_from(b);
  EXPECT_EQ(from_b.photos, 1);
  EXPECT_EQ(from_b.results, 2);
  EXPECT_EQ(from_b.results_known, 1);
  EXPECT_EQ(from_b.runs, 1);

  EXPECT_EQ(test::sql_rows(city,
                           "SELECT sha256, path, lat, first_seen, last_seen FROM photos "
                           "ORDER BY sha256"),
            (std::vector<std::string>{
                "1111111111111111111111111111111111111111111111111111111111111111|/m1/"
                "one.jpg|52.5|2026-01-01T00:00:00.000Z|2026-01-01T00:00:00.000Z",
                "2222222222222222222222222222222222222222222222222222222222222222|/m2/"
                "two-renamed.jpg|10.0|2026-01-01T00:00:00.000Z|2026-02-01T00:00:00.000Z",
                "3333333333333333333333333333333333333333333333333333333333333333|/m2/"
                "three.jpg|52.5|2026-02-01T00:00:00.000Z|2026-02-01T00:00:00.000Z"}));
  EXPECT_EQ(
      test::sql_rows(city,
                     "SELECT sha256, model_id, bin_score FROM results "
                     "ORDER BY sha256, model_id"),
      (std::vector<std::string>{
          "1111111111111111111111111111111111111111111111111111111111111111|vit|0.25",
          "2222222222222222222222222222222222222222222222222222222222222222|resnet|0.25",
          "2222222222222222222222222222222222222222222222222222222222222222|vit|0.25",
          "3333333333333333333333333333333333333333333333333333333333333333|vit|0.25"}));  // the
                                                                                           // first
                                                                                           // result
                                                                                           // for
                                                                                           // s2/vit
                                                                                           // is
                                                                                           // kept
  EXPECT_EQ(test::sql_count(city, "SELECT count(*) FROM paths"), 4);
  EXPECT_EQ(test::sql_rows(city, "SELECT args FROM runs ORDER BY id"),
            (std::vector<std::string>{"{\"machine\":1}", "{\"machine\":2}"}));

  // Again: nothing new, nothing changed.
  const auto before = test::sql_rows(city, "SELECT * FROM photos ORDER BY sha256");
  const MergeCounts again = target.merge_from(b);
  EXPECT_EQ(again.photos + again.results + again.runs, 0);
  EXPECT_EQ(again.results_known, 3);
  EXPECT_EQ(test::sql_rows(city, "SELECT * FROM photos ORDER BY sha256"), before);
  EXPECT_EQ(target.merge_from(a).photos, 0);
  EXPECT_EQ(
      test::sql_rows(city,
                     "SELECT path FROM photos WHERE "
                     "sha256='2222222222222222222222222222222222222222222222222222222222222222'")
          .at(0),
      "/m2/two-renamed.jpg");  // the older sighting does not win back
}

TEST(StoreMerge, SaysWhichSourceCannotBeMerged) {
  test::TempDir dir;
  const auto city = dir / "city.db";
  SqliteStore target(city);
  auto kind_of = [&](const std::filesystem::path& source) {
    try {
      target.merge_from(source);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(source.filename().string()), std::string::npos)
          << e.what();
      return e.kind();
    }
    return ErrorKind::kInternal;
  };
  EXPECT_EQ(kind_of(dir / "missing.db"), ErrorKind::kIo);
  std::ofstream(dir / "text.db") << "not a database at all, just some text to fill a page";
  EXPECT_EQ(kind_of(dir / "text.db"), ErrorKind::kFormat);
  const auto newer = dir / "newer.db";
  { SqliteStore s(newer); }
  sql_exec(newer, "PRAGMA user_version=99");
  EXPECT_EQ(kind_of(newer), ErrorKind::kUnsupported);
  EXPECT_EQ(kind_of(city), ErrorKind::kConfig);  // itself
  EXPECT_EQ(test::sql_count(city, "SELECT count(*) FROM photos"), 0);
}

// A survey written by binscan with schema 2 (before results.decode_scale and .precision): made
// here from a current one by dropping those columns, as schema 2 had exactly the other columns.
// Schema 4 (before the label set of zero-shot results) is schema 5 without those two columns
// and keyed by (sha256, model_id, revision): the results table made again as schema 4 made it.
// Schema 3 (before the tile columns) is schema 4 without them.
void make_schema4(const std::filesystem::path& db, const std::string& sha) {
  {
    SqliteStore s(db);
    CommitBatch batch;
    batch.photos = {photo(sha, "/old/" + sha + ".jpg")};
    batch.results = {result(sha, "vit")};
    s.commit(batch);
  }
  std::string ddl =
      test::sql_rows(db, "SELECT sql FROM sqlite_master WHERE name = 'results'").at(0);
  std::string v4, line;
  std::istringstream lines(ddl);
  while (std::getline(lines, line)) {
    if (line.find("candidate_labels ") != std::string::npos &&
        line.find("UNIQUE") == std::string::npos)
      continue;
    if (line.find("hypothesis_template ") != std::string::npos) continue;
    if (line.find("UNIQUE") != std::string::npos) line = "  UNIQUE (sha256, model_id, revision)";
    v4 += line + "\n";
  }
  std::vector<std::string> cols;
  for (const auto& c : test::sql_rows(db, "SELECT name FROM pragma_table_info('results')"))
    if (c != "candidate_labels" && c != "hypothesis_template") cols.push_back(c);
  std::string list;
  for (const auto& c : cols) list += (list.empty() ? "" : ", ") + c;
  ASSERT_NE(v4.find("occlusion"), std::string::npos) << v4;
  sql_exec(db, "ALTER TABLE results RENAME TO r5; " + v4 + "; INSERT INTO results SELECT " + list +
                   " FROM r5; DROP TABLE r5; PRAGMA user_version=4");
}

void make_schema3(const std::filesystem::path& db, const std::string& sha) {
  make_schema4(db, sha);
  for (const char* c : {"tile_grid", "photo_bin_score", "tile_bin_score", "tile_x", "tile_y",
                        "tile_width", "tile_height", "tile_top_k", "occlusion"}) {
    sql_exec(db, std::string("ALTER TABLE results DROP COLUMN ") + c);
  }
  sql_exec(db, "PRAGMA user_version=3");
}

void make_schema2(const std::filesystem::path& db, const std::string& sha) {
  make_schema3(db, sha);
  sql_exec(db, "ALTER TABLE results DROP COLUMN decode_scale");
  sql_exec(db, "ALTER TABLE results DROP COLUMN precision");
  sql_exec(db, "PRAGMA user_version=2");
}

// Schema 1 (before photos.focal_35mm) is schema 2 without that column.
void make_schema1(const std::filesystem::path& db, const std::string& sha) {
  make_schema2(db, sha);
  sql_exec(db, "ALTER TABLE photos DROP COLUMN focal_35mm");
  sql_exec(db, "PRAGMA user_version=1");
}

TEST(StoreSchema, ASchema1SurveyIsReadAsItIsAndUpgradedWhenWritten) {
  test::TempDir dir;
  const auto old_db = dir / "old.db";
  make_schema1(old_db, "1111111111111111111111111111111111111111111111111111111111111111");
  {
    SqliteStore read(old_db, Store::Mode::kReadOnly);
    EXPECT_EQ(read.schema_version(), 1);
    const auto photos = read.photos();
    ASSERT_EQ(photos.size(), 1u);
    EXPECT_EQ(photos[0].path,
              "/old/1111111111111111111111111111111111111111111111111111111111111111.jpg");
    EXPECT_FALSE(photos[0].focal_35mm);
    EXPECT_EQ(read.results().size(), 1u);
  }
  EXPECT_EQ(test::sql_rows(old_db, "PRAGMA user_version").at(0), "1");  // reading changed nothing

  // Merged into a current survey: its photos and results come along.
  const auto city = dir / "city.db";
  {
    SqliteStore target(city);
    CommitBatch batch;
    auto p = photo("2222222222222222222222222222222222222222222222222222222222222222",
                   "/new/2222222222222222222222222222222222222222222222222222222222222222.jpg");
    p.focal_35mm = 27;
    batch.photos = {p};
    target.commit(batch);
    const MergeCounts c = target.merge_from(old_db);
    EXPECT_EQ(c.photos, 1);
    EXPECT_EQ(c.results, 1);
  }
  EXPECT_EQ(test::sql_rows(city, "SELECT sha256, focal_35mm FROM photos ORDER BY sha256"),
            (std::vector<std::string>{
                "1111111111111111111111111111111111111111111111111111111111111111|",
                "2222222222222222222222222222222222222222222222222222222222222222|27"}));

  // Opened for writing: upgraded in place, nothing lost.
  {
    SqliteStore write(old_db);
    EXPECT_EQ(write.schema_version(), Store::kSchemaVersion);
    CommitBatch batch;
    auto p = photo("3333333333333333333333333333333333333333333333333333333333333333",
                   "/old/3333333333333333333333333333333333333333333333333333333333333333.jpg");
    p.focal_35mm = 26;
    batch.photos = {p};
    write.commit(batch);
  }
  EXPECT_EQ(test::sql_rows(old_db, "PRAGMA user_version").at(0),
            std::to_string(Store::kSchemaVersion));
  EXPECT_EQ(test::sql_rows(old_db, "SELECT sha256, path, focal_35mm FROM photos ORDER BY sha256"),
            (std::vector<std::string>{
                "1111111111111111111111111111111111111111111111111111111111111111|/old/"
                "1111111111111111111111111111111111111111111111111111111111111111.jpg|",
                "3333333333333333333333333333333333333333333333333333333333333333|/old/"
                "3333333333333333333333333333333333333333333333333333333333333333.jpg|26"}));
  EXPECT_EQ(test::sql_count(old_db, "SELECT count(*) FROM results"), 1);
}

// Schema 3 records how each result was made. A schema 2 survey's results (all made exactly, in
// fp32, before the options existed) read as unknown; writing upgrades it and new results carry
// both; merging a schema 2 source into a current survey brings its results along.
TEST(StoreSchema, ASchema2SurveyGainsDecodeScaleAndPrecisionWhenWritten) {
  test::TempDir dir;
  const auto old_db = dir / "old.db";
  const std::string sha1(64, '1'), sha2(64, '2');
  make_schema2(old_db, sha1);
  {
    SqliteStore read(old_db, Store::Mode::kReadOnly);
    EXPECT_EQ(read.schema_version(), 2);
    const auto results = read.results();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_FALSE(results[0].decode_scale);
    EXPECT_FALSE(results[0].precision);
  }
  EXPECT_EQ(test::sql_rows(old_db, "PRAGMA user_version").at(0), "2");

  const auto city = dir / "city.db";
  {
    SqliteStore target(city);
    EXPECT_EQ(target.merge_from(old_db).results, 1);
  }
  EXPECT_EQ(test::sql_rows(city, "SELECT sha256, decode_scale, precision FROM results"),
            (std::vector<std::string>{sha1 + "||"}));

  {
    SqliteStore write(old_db);
    EXPECT_EQ(write.schema_version(), Store::kSchemaVersion);
    CommitBatch batch;
    batch.photos = {photo(sha2, "/old/" + sha2 + ".jpg")};
    auto r = result(sha2, "vit");
    r.decode_scale = 8;
    r.precision = "bf16";
    batch.results = {r};
    write.commit(batch);
    const auto results = write.results();
    ASSERT_EQ(results.size(), 2u);
  }
  EXPECT_EQ(test::sql_rows(old_db, "PRAGMA user_version").at(0),
            std::to_string(Store::kSchemaVersion));
  EXPECT_EQ(
      test::sql_rows(old_db, "SELECT sha256, decode_scale, precision FROM results ORDER BY sha256"),
      (std::vector<std::string>{sha1 + "||", sha2 + "|8|bf16"}));
}

// Surveys from elsewhere (issue 10): merge refuses values binscan never writes; read-only
// commands open a survey read-only, falling back to immutable on a read-only mount.
const std::string kSha(64, 'a');
const std::string kSha2(64, 'b');

std::string merge_error(SqliteStore& target, const std::filesystem::path& source) {
  try {
    target.merge_from(source);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    return e.what();
  }
  return "";
}

TEST(StoreMerge, RefusesRowsBinscanNeverWrites) {
  test::TempDir dir;
  SqliteStore target(dir / "city.db");
  struct Case {
    const char* name;
    PhotoRecord photo;
    std::string model;
    const char* expect;
  };
  const Case cases[] = {
      {"hash", photo("\"><script>alert(1)</script>", "/p/x.jpg"), "org/vit", "photos.sha256"},
      {"upper", photo(std::string(64, 'A'), "/p/x.jpg"), "org/vit", "photos.sha256"},
      {"relative", photo(kSha, "p/x.jpg"), "org/vit", "photos.path"},
      {"control", photo(kSha, "/p/\x1b[2Jx.jpg"), "org/vit", "photos.path"},
      {"model", photo(kSha, "/p/x.jpg"), "<img src=x onerror=alert(1)>", "results.model_id"},
      {"model2", photo(kSha, "/p/x.jpg"), "a/b/c", "results.model_id"},
      {"url", photo(kSha, "/p/x.jpg"), "http://x/\"onmouseover=alert(1)", "results.model_id"},
  };
  for (const auto& c : cases) {
    const auto source = dir / (std::string(c.name) + ".db");
    {
      SqliteStore s(source);
      CommitBatch batch;
      batch.photos = {c.photo};
      batch.results = {result(c.photo.sha256, c.model)};
      s.commit(batch);
    }
    const std::string what = merge_error(target, source);
    EXPECT_NE(what.find("refusing to merge"), std::string::npos) << c.name << ": " << what;
    EXPECT_NE(what.find(c.expect), std::string::npos) << c.name << ": " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
    EXPECT_EQ(what.find('\x1b'), std::string::npos);  // one line, inert on a terminal
  }
  EXPECT_EQ(test::sql_count(dir / "city.db", "SELECT count(*) FROM photos"), 0);

  // What binscan does write is merged: Hub ids, local directories, endpoints, names that are
  // not UTF-8, labels of any text.
  const auto good = dir / "good.db";
  {
    SqliteStore s(good);
    CommitBatch batch;
    batch.photos = {photo(kSha, "/p/caf\xff.jpg"), photo(kSha2, "/p/b.jpg")};
    batch.paths = {{"/p/caf\xff.jpg", kSha, 1, 1}};
    batch.results = {result(kSha, "google/vit-base-patch16-224"), result(kSha, "/models/resnet"),
                     result(kSha2, "http://127.0.0.1:8080/models/x"), result(kSha2, "resnet-50")};
    s.commit(batch);
  }
  const MergeCounts c = target.merge_from(good);
  EXPECT_EQ(c.photos, 2);
  EXPECT_EQ(c.results, 4);
  EXPECT_EQ(
      test::sql_rows(dir / "city.db", "SELECT hex(path) FROM photos WHERE sha256='" + kSha + "'")
          .at(0),
      "2F702F636166FF2E6A7067");  // the bytes kept as they were
}

TEST(StoreReadOnly, UriEncodesEveryByteOfThePath) {
  EXPECT_EQ(sqlite_file_uri("/a b/c?d#e%f\xff.db", "mode=ro"),
            "file:/a%20b/c%3Fd%23e%25f%FF.db?mode=ro");
  EXPECT_EQ(sqlite_file_uri("rel/x.db", ""), "file:rel/x.db");
}

// A WAL survey on a read-only mount: "unable to open database file" with mode=ro alone (SQLite
// cannot create the -shm index); read as immutable instead. Needs a read-only bind mount, which
// needs root; skipped elsewhere (the URI logic is tested above).
TEST(StoreReadOnly, AWalSurveyOnAReadOnlyMountIsReadable) {
  test::TempDir dir;
  const auto src = dir / "src", mnt = dir / "mnt";
  std::filesystem::create_directories(src);
  std::filesystem::create_directories(mnt);
  {
    SqliteStore s(src / "survey.db");
    CommitBatch batch;
    batch.photos = {photo(kSha, "/p/x.jpg")};
    s.commit(batch);
  }
  ASSERT_EQ(test::sql_rows(src / "survey.db", "PRAGMA journal_mode").at(0), "wal");
  // A backup: the database file alone (still WAL in its header), no -wal or -shm beside it.
  const auto backup = dir / "backup";
  std::filesystem::create_directories(backup);
  std::filesystem::copy_file(src / "survey.db", backup / "survey.db");
  {
    // A copy taken while a writer had changes still in its -wal: immutable would skip them.
    SqliteStore writer(src / "live.db");
    CommitBatch batch;
    batch.photos = {photo(kSha2, "/p/y.jpg")};
    writer.commit(batch);
    std::filesystem::copy_file(src / "live.db", backup / "live.db");
    std::filesystem::copy_file(src / "live.db-wal", backup / "live.db-wal");
  }
  const std::string m = mnt.string(), s = backup.string();
  if (std::system(("mount --bind '" + s + "' '" + m + "' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot bind-mount here (needs root)";
  struct Unmount {
    std::string dir;
    ~Unmount() { (void)std::system(("umount '" + dir + "'").c_str()); }
  } unmount{m};
  if (std::system(("mount -o remount,bind,ro '" + m + "' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "cannot remount read-only here";

  SqliteStore survey(mnt / "survey.db", Store::Mode::kReadOnly);
  EXPECT_TRUE(survey.opened_immutable());
  ASSERT_EQ(survey.photos().size(), 1u);
  EXPECT_EQ(survey.photos()[0].path, "/p/x.jpg");

  try {
    SqliteStore live(mnt / "live.db", Store::Mode::kReadOnly);
    ADD_FAILURE() << "a survey with pending -wal changes was opened as immutable";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("write-ahead log"), std::string::npos) << e.what();
  }

  // merge reads its source the same way.
  SqliteStore target(dir / "city.db");
  EXPECT_EQ(target.merge_from(mnt / "survey.db").photos, 1);
}

TEST(StoreReadOnly, AWritableSurveyOpensReadOnlyWithoutImmutable) {
  test::TempDir dir;
  { SqliteStore s(dir / "survey.db"); }
  SqliteStore survey(dir / "survey.db", Store::Mode::kReadOnly);
  EXPECT_FALSE(survey.opened_immutable());
}

}  // namespace
}  // namespace binscan

namespace binscan {
namespace {

// Schema 4 stores a tiled result's layout and best tile; a schema 3 survey reads them as absent,
// gains the columns when written, and a tiled result survives a merge whole.
TEST(StoreSchema, ASchema3SurveyGainsTheTileColumnsAndTiledResultsRoundTrip) {
  test::TempDir dir;
  const auto old_db = dir / "old.db";
  const std::string sha1(64, '1'), sha2(64, '2');
  make_schema3(old_db, sha1);
  {
    SqliteStore read(old_db, Store::Mode::kReadOnly);
    EXPECT_EQ(read.schema_version(), 3);
    const auto results = read.results();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_FALSE(results[0].tiled());
    EXPECT_FALSE(results[0].photo_bin_score);
  }
  {
    SqliteStore write(old_db);
    EXPECT_EQ(write.schema_version(), Store::kSchemaVersion);
    CommitBatch batch;
    batch.photos = {photo(sha2, "/old/" + sha2 + ".jpg")};
    auto r = result(sha2, "vit");
    r.tile_grid = "3x2";
    r.photo_bin_score = 0.02;
    r.tile_bin_score = 0.4;
    r.bin_score = 0.4;
    r.tile_x = 1210;
    r.tile_y = 0;
    r.tile_width = 1613;
    r.tile_height = 1728;
    r.tile_top_json = R"([{"label":"ashcan","class_id":412,"score":0.4}])";
    batch.results = {r};
    write.commit(batch);
  }
  const auto city = dir / "city.db";
  {
    SqliteStore target(city);
    EXPECT_EQ(target.merge_from(old_db).results, 2);
    const auto results = target.results();
    const auto tiled = std::find_if(results.begin(), results.end(),
                                    [&](const ResultRecord& x) { return x.sha256 == sha2; });
    ASSERT_NE(tiled, results.end());
    ASSERT_TRUE(tiled->tiled());
    EXPECT_EQ(*tiled->tile_grid, "3x2");
    EXPECT_EQ(*tiled->tile_x, 1210);
    EXPECT_EQ(*tiled->tile_width, 1613);
    EXPECT_EQ(*tiled->tile_height, 1728);
    EXPECT_DOUBLE_EQ(*tiled->photo_bin_score, 0.02);
    EXPECT_DOUBLE_EQ(*tiled->tile_bin_score, 0.4);
    EXPECT_EQ(*tiled->tile_top_json, R"([{"label":"ashcan","class_id":412,"score":0.4}])");
  }
}

// Schema 5 keeps a zero-shot result's label set and template, and they are part of the key: the
// same CLIP model with two label sets is two model runs side by side, each "done" on its own. A
// schema 4 survey reads as it is (its results have no label set), is rebuilt with the new key
// when written, keeps its rows in their order, and merges into a current survey.
TEST(StoreSchema, ASchema4SurveyGainsTheLabelSetKeyAndTwoLabelSetsStandSideBySide) {
  test::TempDir dir;
  const auto old_db = dir / "old.db";
  const std::string sha1(64, '1'), sha2(64, '2');
  make_schema4(old_db, sha1);
  EXPECT_EQ(test::sql_count(old_db,
                            "SELECT count(*) FROM pragma_table_info('results') WHERE "
                            "name = 'candidate_labels'"),
            0);
  {
    SqliteStore read(old_db, Store::Mode::kReadOnly);
    EXPECT_EQ(read.schema_version(), 4);
    ASSERT_EQ(read.results().size(), 1u);
    EXPECT_FALSE(read.results()[0].model.zero_shot());
    EXPECT_EQ(read.models(), (std::vector<ModelKey>{{"vit", "r1"}}));
    EXPECT_EQ(read.photo_state(sha1).models_done, (std::vector<ModelKey>{{"vit", "r1"}}));
  }
  auto clip = [&](const std::string& sha, const std::string& labels) {
    auto r = result(sha, "openai/clip");
    r.model.candidate_labels = labels;
    r.model.hypothesis_template = "This is a photo of {}.";
    return r;
  };
  const std::string set_a = R"(["a litter bin","a street with no bin"])";
  const std::string set_b = R"(["an underground container, with a chute","a bicycle"])";
  {
    SqliteStore write(old_db);
    EXPECT_EQ(write.schema_version(), Store::kSchemaVersion);
    CommitBatch batch;
    batch.photos = {photo(sha2, "/old/" + sha2 + ".jpg")};
    batch.results = {clip(sha1, set_a), clip(sha1, set_b), clip(sha2, set_a)};
    EXPECT_EQ(write.commit(batch), (std::vector<bool>{true, true, true}));
    // The same run again is known; a classifier's result is still one per photo.
    batch.results = {clip(sha1, set_a), result(sha1, "vit")};
    EXPECT_EQ(write.commit(batch), (std::vector<bool>{false, false}));
    const auto models = write.models();
    ASSERT_EQ(models.size(), 3u);
    EXPECT_EQ(models[0], ModelKey("vit", "r1"));  // the old row first: order kept
    EXPECT_EQ(models[1].candidate_labels, set_a);
    EXPECT_EQ(models[2].candidate_labels, set_b);
    EXPECT_NE(models[1].display(), models[2].display());
    EXPECT_EQ(models[1].display(), "openai/clip@r1 [a litter bin | a street with no bin]");
    EXPECT_EQ(write.photo_state(sha2).models_done.size(), 1u);
    EXPECT_EQ(write.photo_state(sha1).models_done.size(), 3u);
    EXPECT_TRUE(write.set_occlusion(sha1, models[2], "{}"));
  }
  EXPECT_EQ(test::sql_rows(old_db, "SELECT count(*) FROM results WHERE occlusion IS NOT NULL"),
            (std::vector<std::string>{"1"}));
  EXPECT_EQ(test::sql_rows(old_db,
                           "SELECT model_id, candidate_labels, hypothesis_template FROM results "
                           "WHERE sha256 = '" +
                               sha1 + "' ORDER BY rowid"),
            (std::vector<std::string>{"vit||", "openai/clip|" + set_a + "|This is a photo of {}.",
                                      "openai/clip|" + set_b + "|This is a photo of {}."}));
  // Merged into a fresh survey (and a schema 4 source too): every run comes along once.
  const auto city = dir / "city.db";
  const auto v4 = dir / "v4.db";
  make_schema4(v4, sha1);
  {
    SqliteStore target(city);
    EXPECT_EQ(target.merge_from(old_db).results, 4);
    EXPECT_EQ(target.merge_from(v4).results, 0);  // its one result is the same run
    EXPECT_EQ(target.merge_from(old_db).results, 0);
    EXPECT_EQ(target.models().size(), 3u);
  }
}

}  // namespace
}  // namespace binscan

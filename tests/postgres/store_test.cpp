// PostgresStore on a real PostgreSQL 15 + PostGIS (scripts/pg-sandbox): the Store contract as
// SqliteStore keeps it, the schema and its upgrades, PostGIS geometries, merging across backends,
// the work queue's claims and leases, and passwords kept out of messages.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "support/pg_sandbox.h"
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
  r.top1_score = 0.1 + 0.2;  // not exact in decimal: must come back bit for bit
  r.bin_score = 1.0 / 3.0;
  r.bin_rank = 2;
  r.known_ranks = 10;
  r.bin_labels_json = R"(["b"])";
  r.threshold = 0.1;
  r.verdict = true;
  r.decode_scale = 1;
  r.precision = "fp32";
  return r;
}

PhotoRecord photo(const std::string& sha, const std::string& path) {
  PhotoRecord p;
  p.sha256 = sha;
  p.path = path;
  p.size = 123;
  p.lat = 52.370216;
  p.lon = 4.895168;
  p.focal_35mm = 27;
  return p;
}

std::string sha(char c) { return std::string(64, c); }

CommitBatch batch_of(const std::vector<std::pair<char, std::string>>& photos,
                     const std::vector<std::string>& models) {
  CommitBatch b;
  for (const auto& [c, path] : photos) {
    b.photos.push_back(photo(sha(c), path));
    b.paths.push_back({path, sha(c), 123, 456});
  }
  for (const auto& m : models) {
    for (const auto& [c, path] : photos) b.results.push_back(result(sha(c), m));
  }
  return b;
}

TEST(PostgresStore, StoresAndReadsBackWhatSqliteDoes) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  test::TempDir dir;
  SqliteStore lite(dir / "s.db");
  PostgresStore store(uri);
  EXPECT_EQ(store.schema_version(), Store::kSchemaVersion);
  const auto b = batch_of({{'b', "/p/b.jpg"}, {'a', "/p/a.jpg"}}, {"org/m1", "org/m2"});
  EXPECT_EQ(store.commit(b), std::vector<bool>(4, true));
  EXPECT_EQ(lite.commit(b), std::vector<bool>(4, true));
  // Again: every result is already there, nothing is duplicated.
  EXPECT_EQ(store.commit(b), std::vector<bool>(4, false));
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM results"), 4);

  const auto a = store.results(), l = lite.results();
  ASSERT_EQ(a.size(), l.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].sha256, l[i].sha256);
    EXPECT_EQ(a[i].model, l[i].model);
    EXPECT_EQ(a[i].top1_score, l[i].top1_score);  // bit for bit
    EXPECT_EQ(a[i].bin_score, l[i].bin_score);
    EXPECT_EQ(a[i].decode_scale, l[i].decode_scale);
    EXPECT_EQ(a[i].precision, l[i].precision);
  }
  EXPECT_EQ(store.models(), lite.models());
  ASSERT_EQ(store.photos().size(), 2u);
  EXPECT_EQ(store.photos()[0].path, "/p/a.jpg");
  EXPECT_EQ(store.photos()[0].lat, 52.370216);
  EXPECT_EQ(store.photos()[0].focal_35mm, 27);

  const auto found = store.find_path("/p/a.jpg");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->sha256, sha('a'));
  EXPECT_EQ(found->mtime_ns, 456);
  const PhotoState st = store.photo_state(sha('a'));
  EXPECT_TRUE(st.known);
  EXPECT_EQ(st.models_done.size(), 2u);
  EXPECT_FALSE(store.photo_state(sha('c')).known);

  // PostGIS: the photo's point, SRID 4326, GiST-indexed; the QGIS view.
  EXPECT_EQ(pg.sql(uri,
                   "SELECT ST_AsText(geom), ST_SRID(geom) FROM photos WHERE path = "
                   "'/p/a.jpg'")
                .at(0),
            "POINT(4.895168 52.370216)|4326");
  EXPECT_EQ(pg.count(uri,
                     "SELECT count(*) FROM pg_indexes WHERE indexname = 'photos_geom' AND "
                     "indexdef LIKE '%USING gist%'"),
            1);
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM photo_verdicts WHERE verdict"), 4);

  const auto run = store.begin_run(R"({"x":1})");
  store.end_run(run, "complete", "{}");
  EXPECT_EQ(pg.sql(uri, "SELECT status FROM runs").at(0), "complete");

  // Read-only opens read; a database without a survey is refused in one line.
  PostgresStore ro(uri, Store::Mode::kReadOnly);
  EXPECT_EQ(ro.results().size(), 4u);
  try {
    PostgresStore none(pg.fresh_database(), Store::Mode::kReadOnly);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("no binscan survey"), std::string::npos) << e.what();
  }
}

TEST(PostgresStore, UpgradesAnOlderSurveyAndRefusesANewer) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  { PostgresStore(uri).commit(batch_of({{'a', "/p/a.jpg"}}, {"m"})); }
  // Make it a schema 1 survey: without the columns schemas 2 and 3 added.
  pg.sql(uri,
         "ALTER TABLE photos DROP COLUMN focal_35mm; ALTER TABLE results DROP COLUMN "
         "decode_scale, DROP COLUMN precision, DROP COLUMN candidate_labels CASCADE, DROP COLUMN "
         "hypothesis_template CASCADE; UPDATE binscan_schema SET version = 1");
  {
    PostgresStore old(uri, Store::Mode::kReadOnly);
    EXPECT_EQ(old.schema_version(), 1);
    ASSERT_EQ(old.results().size(), 1u);
    EXPECT_FALSE(old.results()[0].decode_scale);  // read as unknown
    EXPECT_FALSE(old.photos()[0].focal_35mm);
  }
  {
    PostgresStore up(uri);
    EXPECT_EQ(up.schema_version(), Store::kSchemaVersion);
    up.commit(batch_of({{'b', "/p/b.jpg"}}, {"m"}));
    EXPECT_EQ(up.results().back().decode_scale, 1);
  }
  EXPECT_EQ(pg.count(uri, "SELECT max(version) FROM binscan_schema"), Store::kSchemaVersion);
  pg.sql(uri, "UPDATE binscan_schema SET version = 99");
  try {
    PostgresStore newer(uri);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  }
}

// Schema 5: a zero-shot result's label set and template are part of the key. A schema 4 survey
// (the columns absent, keyed by photo, model and revision) gains them with its rows as
// classifier results, and the key constraint is replaced, so two label sets of one CLIP model
// stand side by side.
TEST(PostgresStore, ASchema4SurveyGainsTheLabelSetKey) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  { PostgresStore(uri).commit(batch_of({{'a', "/p/a.jpg"}}, {"m"})); }
  pg.sql(uri,
         "ALTER TABLE results DROP COLUMN candidate_labels CASCADE, DROP COLUMN "
         "hypothesis_template CASCADE; ALTER TABLE results ADD UNIQUE (sha256, model_id, "
         "revision); UPDATE binscan_schema SET version = 4");
  {
    PostgresStore old(uri, Store::Mode::kReadOnly);
    EXPECT_EQ(old.schema_version(), 4);
    EXPECT_EQ(old.models(), (std::vector<ModelKey>{{"m", "r1"}}));
    EXPECT_EQ(old.photo_state(sha('a')).models_done.size(), 1u);
  }
  auto clip = [&](const std::string& labels) {
    auto r = result(sha('a'), "openai/clip");
    r.model.candidate_labels = labels;
    r.model.hypothesis_template = "This is a photo of {}.";
    return r;
  };
  {
    PostgresStore up(uri);
    EXPECT_EQ(up.schema_version(), Store::kSchemaVersion);
    CommitBatch b;
    b.results = {clip(R"(["a bin","no bin"])"), clip(R"(["a bin, with a lid","a bicycle"])"),
                 result(sha('a'), "m")};
    EXPECT_EQ(up.commit(b), (std::vector<bool>{true, true, false}));
    EXPECT_EQ(up.commit(b), (std::vector<bool>{false, false, false}));
    const auto models = up.models();
    ASSERT_EQ(models.size(), 3u);
    EXPECT_FALSE(models[0].zero_shot());
    EXPECT_EQ(models[2].candidate_labels, R"(["a bin, with a lid","a bicycle"])");
    EXPECT_TRUE(up.set_occlusion(sha('a'), models[1], "{}"));
    EXPECT_EQ(up.photo_state(sha('a')).models_done.size(), 3u);
  }
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM photo_verdicts WHERE candidate_labels <> ''"), 2);
  EXPECT_EQ(pg.count(uri,
                     "SELECT count(*) FROM pg_constraint WHERE conrelid = 'results'::regclass "
                     "AND contype = 'u'"),
            1);
}

TEST(PostgresStore, MergesSqliteIntoPostgresAndBack) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  test::TempDir dir;
  const auto part = dir / "part.db";
  {
    SqliteStore lite(part);
    lite.commit(batch_of({{'a', "/p/a.jpg"}, {'b', "/p/b.jpg"}}, {"org/m"}));
    lite.end_run(lite.begin_run("{}"), "complete", "{}");
  }
  auto store = open_store(uri);
  MergeCounts c = merge_survey(*store, part.string());
  EXPECT_EQ(c.photos, 2);
  EXPECT_EQ(c.results, 2);
  EXPECT_EQ(c.runs, 1);
  // Again: nothing new.
  c = merge_survey(*store, part.string());
  EXPECT_EQ(c.photos, 0);
  EXPECT_EQ(c.results, 0);
  EXPECT_EQ(c.results_known, 2);
  EXPECT_EQ(c.runs, 0);
  store->commit(batch_of({{'c', "/p/c.jpg"}}, {"org/m"}));
  // And back into a fresh SQLite file: the same rows as PostgreSQL holds.
  const auto back = dir / "back.db";
  auto lite = open_store(back.string());
  c = merge_survey(*lite, uri);
  EXPECT_EQ(c.photos, 3);
  EXPECT_EQ(c.results, 3);
  EXPECT_EQ(lite->results().size(), 3u);
  EXPECT_EQ(lite->rows().runs.size(), 1u);
  // A row binscan would never write is refused whole, naming it.
  pg.sql(uri,
         "INSERT INTO photos (sha256, path, size, first_seen, last_seen) VALUES "
         "('XYZ', '/p/x.jpg', 1, 'a', 'a')");
  auto other = open_store((dir / "other.db").string());
  try {
    merge_survey(*other, uri);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("photos.sha256"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(other->results().empty());
}

TEST(PostgresStore, PasswordsNeverAppearInMessages) {
  EXPECT_EQ(redacted_location("postgresql://u:s3cret@db.example/city?sslmode=require"),
            "postgresql://u:***@db.example/city?sslmode=require");
  EXPECT_EQ(redacted_location("postgres://u:p%40ss@h:5432/d"), "postgres://u:***@h:5432/d");
  EXPECT_EQ(redacted_location("postgresql:///d?host=/tmp&password=s3cret&user=u"),
            "postgresql:///d?host=/tmp&password=***&user=u");
  EXPECT_EQ(redacted_location("postgresql://u@h/d"), "postgresql://u@h/d");
  EXPECT_EQ(redacted_location("survey.db"), "survey.db");
  test::TempDir dir;
  try {
    PostgresStore s("postgresql://u:s3cret@/d?host=" + dir.path().string());
    FAIL();
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    EXPECT_NE(what.find("u:***@"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

TEST(PostgresQueue, ClaimsAreExclusiveLeasedAndALostLeaseWritesNothing) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  PostgresStore a(uri), b(uri);
  std::vector<QueueItem> items;
  for (int i = 0; i < 10; ++i) items.push_back({"/p/" + std::to_string(i) + ".jpg", 1, 2});
  EXPECT_EQ(a.enqueue(items), 10);
  EXPECT_EQ(b.enqueue(items), 0);  // queued already, unchanged
  const auto ca = a.claim(4, std::chrono::seconds(60));
  const auto cb = b.claim(4, std::chrono::seconds(60));
  ASSERT_EQ(ca.size(), 4u);
  ASSERT_EQ(cb.size(), 4u);
  for (const auto& x : ca) {
    for (const auto& y : cb) EXPECT_NE(x.path, y.path);
  }
  QueueStatus s = a.queue_status();
  EXPECT_EQ(s.pending, 2);
  EXPECT_EQ(s.leased, 8);
  EXPECT_EQ(s.workers, 2);

  // a's batch: results and the done mark in one transaction.
  CommitBatch done = batch_of({{'a', ca[0].path}}, {"m"});
  done.finished_paths = {ca[0].path};
  EXPECT_EQ(a.commit(done), std::vector<bool>{true});
  a.finish({ca[1].path}, std::nullopt);  // nothing to store for it (not an image, say)
  s = a.queue_status();
  EXPECT_EQ(s.done, 2);

  // b's lease runs out while it is still working; a takes its photos over and stores them.
  PostgresStore c(uri);
  pg.sql(uri,
         "UPDATE queue SET lease_until = now() - interval '1 second' WHERE state = "
         "'leased' AND lease_owner = '" +
             b.worker_id() + "'");
  const auto taken = c.claim(10, std::chrono::seconds(60));
  EXPECT_EQ(taken.size(), 6u);  // b's 4 and the 2 pending
  CommitBatch late = batch_of({{'b', cb[0].path}}, {"m"});
  late.finished_paths = {cb[0].path};
  // b is too late: it writes nothing (c will), and says so.
  EXPECT_EQ(b.commit(late), std::vector<bool>{false});
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM results WHERE sha256 = '" + sha('b') + "'"), 0);
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM photos WHERE sha256 = '" + sha('b') + "'"), 0);
  CommitBatch on_time = batch_of({{'b', cb[0].path}}, {"m"});
  on_time.finished_paths = {cb[0].path};
  EXPECT_EQ(c.commit(on_time), std::vector<bool>{true});
  EXPECT_EQ(pg.sql(uri, "SELECT state FROM queue WHERE path = '" + cb[0].path + "'").at(0), "done");

  // A failure is retried, then given up on.
  const std::string bad = taken.back().path;
  c.finish({bad}, std::string("cannot decode"));
  EXPECT_EQ(pg.sql(uri, "SELECT state FROM queue WHERE path = '" + bad + "'").at(0), "pending");
  pg.sql(uri, "UPDATE queue SET attempts = 3, state = 'leased', lease_owner = '" + c.worker_id() +
                  "' WHERE path = '" + bad + "'");
  c.finish({bad}, std::string("cannot decode"));
  EXPECT_EQ(pg.sql(uri, "SELECT state, error FROM queue WHERE path = '" + bad + "'").at(0),
            "failed|cannot decode");
  // A changed file is queued again.
  EXPECT_EQ(a.enqueue({{ca[0].path, 99, 2}}), 1);
}

TEST(PostgresStore, ReconnectsWhenTheServerRestarts) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  PostgresStore store(uri);
  store.commit(batch_of({{'a', "/p/a.jpg"}}, {"m"}));
  pg.stop();
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    pg.start();
  });
  // Blocks, backing off, until the server is back; then the transaction runs whole.
  EXPECT_EQ(store.commit(batch_of({{'b', "/p/b.jpg"}}, {"m"})), std::vector<bool>{true});
  restart.join();
  EXPECT_EQ(store.results().size(), 2u);
}

}  // namespace
}  // namespace binscan

// The binscan program against a real PostgreSQL + PostGIS (scripts/pg-sandbox), with two
// random-weight checkpoints on ../shared/data/photos: the same rows as an SQLite scan, workers
// killed at random moments, the server restarted mid-scan, locate and a QGIS-style spatial
// query on the views. Label "slow".
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "support/pg_sandbox.h"
#include "support/test_support.h"

extern char** environ;

namespace binscan {
namespace {
namespace fs = std::filesystem;

const fs::path& models_dir() { return test::tiny_checkpoints(); }

// binscan COMMAND [paths] with both models, --db and extra flags.
std::vector<std::string> args_for(const std::string& command, const std::string& db,
                                  const std::vector<std::string>& paths,
                                  const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{test::binscan_binary().string(), command};
  argv.insert(argv.end(), paths.begin(), paths.end());
  for (const char* m : {"vit", "resnet"}) {
    argv.push_back("--model");
    argv.push_back((models_dir() / m).string());
  }
  for (const std::string& a :
       std::vector<std::string>{"--db", db, "--bin-label", "class_3", "--quiet"}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string exported(const std::string& db, const std::string& format) {
  const auto r = test::run_binscan({"export", "--format", format, "--db", db});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// The shared photos scanned once into SQLite: what every PostgreSQL survey must hold.
struct Reference {
  test::TempDir dir;
  std::string db = (dir / "ref.db").string();
  std::string csv, geojson;
  Reference() {
    const auto r = test::run_command(args_for("scan", db, {test::photos_dir().string()}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    csv = exported(db, "csv");
    geojson = exported(db, "geojson");
  }
};
Reference& reference() {
  static Reference* r = new Reference;
  return *r;
}

pid_t spawn(const std::vector<std::string>& argv) { return test::spawn_silent(argv); }
int wait_for(pid_t pid) { return test::wait_exit(pid); }

long photo_count() { return static_cast<long>(test::all_photos().size()); }

void expect_one_row_per_photo_and_model(test::PgSandbox& pg, const std::string& uri) {
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM results"), 2 * photo_count());
  EXPECT_EQ(pg.count(uri,
                     "SELECT count(*) FROM (SELECT sha256, model_id FROM results GROUP BY 1, 2 "
                     "HAVING count(*) > 1) d"),
            0);
}

// The survey scanned by ScanStoresTheRowsOfAnSqliteScan, shared with the spatial test.
std::string& scanned_uri() {
  static std::string uri;
  if (uri.empty()) {
    uri = test::pg_sandbox().fresh_database();
    const auto r = test::run_command(args_for("scan", uri, {test::photos_dir().string()}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  return uri;
}

TEST(PostgresCli, ScanStoresTheRowsOfAnSqliteScanAndLocatesTheSameBins) {
  auto& pg = test::pg_sandbox();
  const auto& ref = reference();
  const std::string& uri = scanned_uri();
  EXPECT_EQ(exported(uri, "csv"), ref.csv);
  EXPECT_EQ(exported(uri, "geojson"), ref.geojson);
  EXPECT_EQ(exported(uri, "jsonl"), exported(ref.db, "jsonl"));
  expect_one_row_per_photo_and_model(pg, uri);
  // Again: nothing is queued, nothing is classified.
  const auto again = test::run_command(args_for("scan", uri, {test::photos_dir().string()}));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 new results from 2 models; 0 pending; 0 queued"), std::string::npos)
      << again.out;
  const auto status = test::run_binscan({"status", "--db", uri, "--format", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto st = nlohmann::json::parse(status.out);
  EXPECT_EQ(st["done"], photo_count());
  EXPECT_EQ(st["pending"], 0);
  EXPECT_EQ(st["leased"], 0);

  // locate: the same bins from PostgreSQL as from SQLite.
  test::TempDir dir;
  for (const auto& [db, out] :
       {std::pair{ref.db, dir / "lite.geojson"}, {uri, dir / "pg.geojson"}}) {
    const auto r = test::run_binscan({"locate", "--db", db, "--geojson", out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::ifstream a(dir / "lite.geojson"), b(dir / "pg.geojson");
  std::stringstream sa, sb;
  sa << a.rdbuf();
  sb << b.rdbuf();
  EXPECT_EQ(sa.str(), sb.str());

  // merge: PostgreSQL back into SQLite holds the same rows.
  const auto back = (dir / "back.db").string();
  const auto m = test::run_binscan({"merge", "--db", back, uri});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(exported(back, "csv"), ref.csv);
}

// Great-circle distance in metres (the mean Earth radius, as locate uses).
double haversine_m(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kR = 6371008.8, kRad = M_PI / 180;
  const double dlat = (lat2 - lat1) * kRad, dlon = (lon2 - lon1) * kRad;
  const double h =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kR * std::asin(std::sqrt(h));
}

TEST(PostgresCli, SpatialQueryOnTheViewsMatchesTheGeoJsonExport) {
  auto& pg = test::pg_sandbox();
  const std::string& uri = scanned_uri();
  test::TempDir dir;
  const auto bins_file = dir / "bins.geojson";
  ASSERT_EQ(test::run_binscan({"locate", "--db", uri, "--geojson", bins_file.string()}).exit_code,
            0);
  std::ifstream in(bins_file);
  const auto bins = nlohmann::json::parse(in);
  const auto photos = nlohmann::json::parse(exported(uri, "geojson"));
  // Around the first bin, as a GIS user would ask: bins and bin photos within the radius.
  // Points within half a metre of the edge are left out (the server measures on the spheroid).
  double lat0 = 0, lon0 = 0;
  std::set<long> want_bins;
  std::set<std::string> want_photos;
  bool first = true;
  constexpr double kRadius = 2000;
  auto near = [&](const nlohmann::json& f, bool& edge) {
    const double lon = f["geometry"]["coordinates"][0], lat = f["geometry"]["coordinates"][1];
    const double d = haversine_m(lat0, lon0, lat, lon);
    edge = std::abs(d - kRadius) < 0.5;
    return d < kRadius;
  };
  std::set<long> edge_bins;
  for (const auto& f : bins["features"]) {
    if (f["properties"]["kind"] != "bin") continue;
    if (first) {
      lon0 = f["geometry"]["coordinates"][0];
      lat0 = f["geometry"]["coordinates"][1];
      first = false;
    }
    bool edge = false;
    if (near(f, edge)) want_bins.insert(f["properties"]["id"].get<long>());
    if (edge) edge_bins.insert(f["properties"]["id"].get<long>());
  }
  ASSERT_FALSE(first) << "no bins located";
  for (const auto& f : photos["features"]) {
    bool edge = false;
    if (f["properties"]["verdict"] == true && near(f, edge) && !edge) {
      want_photos.insert(f["properties"]["sha256"].get<std::string>() + "|" +
                         f["properties"]["model"].get<std::string>());
    }
  }
  std::ostringstream point;
  point.precision(17);
  point << "ST_SetSRID(ST_MakePoint(" << lon0 << ", " << lat0 << "), 4326)::geography";
  std::set<long> got_bins;
  for (const auto& row :
       pg.sql(uri, "SELECT id FROM located_bins WHERE ST_DWithin(geom::geography, " + point.str() +
                       ", " + std::to_string(kRadius) + ")")) {
    if (!edge_bins.contains(std::stol(row))) got_bins.insert(std::stol(row));
  }
  for (const long e : edge_bins) want_bins.erase(e);
  EXPECT_EQ(got_bins, want_bins);
  std::set<std::string> got_photos;
  for (const auto& row :
       pg.sql(uri,
              "SELECT sha256 || '|' || model_id FROM photo_verdicts WHERE verdict AND "
              "ST_DWithin(geom::geography, " +
                  point.str() + ", " + std::to_string(kRadius) + ")")) {
    got_photos.insert(row);
  }
  for (const auto& p : got_photos) {
    // Only edge points may differ.
    if (!want_photos.contains(p)) ADD_FAILURE() << "not within the radius by GeoJSON: " << p;
  }
  for (const auto& p : want_photos) EXPECT_TRUE(got_photos.contains(p)) << p;
  EXPECT_FALSE(want_photos.empty());
  // Every bin has its sight lines; each is a 2-point line in SRID 4326.
  EXPECT_EQ(pg.count(uri,
                     "SELECT count(*) FROM bin_sight_lines WHERE ST_NPoints(geom) <> 2 OR "
                     "ST_SRID(geom) <> 4326"),
            0);
  EXPECT_EQ(pg.count(uri, "SELECT count(DISTINCT bin) FROM bin_sight_lines"),
            pg.count(uri, "SELECT count(*) FROM located_bins"));
}

TEST(PostgresCli, ThreeWorkersOneKilledAtRandomMomentsEndWithTheRowsOfOneRun) {
  auto& pg = test::pg_sandbox();
  const auto& ref = reference();
  const std::string uri = pg.fresh_database();
  const auto q =
      test::run_command(args_for("scan", uri, {test::photos_dir().string()}, {"--enqueue-only"}));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM queue WHERE state = 'pending'"), photo_count());
  const auto worker = args_for("work", uri, {}, {"--lease", "2", "--batch", "2"});
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(300, 2000);
  pid_t a = spawn(worker), b = spawn(worker), c = spawn(worker);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  int killed = 0;
  for (int round = 0; round < 4; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    ::kill(c, SIGKILL);
    killed += wait_for(c) == 128 + SIGKILL;
    c = spawn(worker);
  }
  EXPECT_EQ(wait_for(a), 0) << "seed " << seed;
  EXPECT_EQ(wait_for(b), 0) << "seed " << seed;
  EXPECT_EQ(wait_for(c), 0) << "seed " << seed;
  // Whatever is left (nothing, unless a worker ended before a lease ran out) is taken now.
  const auto last = test::run_command(worker);
  EXPECT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(exported(uri, "csv"), ref.csv) << "seed " << seed << ", killed " << killed;
  expect_one_row_per_photo_and_model(pg, uri);
  const auto status = test::run_binscan({"status", "--db", uri, "--format", "json"});
  const auto st = nlohmann::json::parse(status.out);
  EXPECT_EQ(st["done"], photo_count());
  EXPECT_EQ(st["failed"], 0);
  // A worker killed while loading its models never took work: at least the first three did.
  EXPECT_GE(st["workers"].get<int>(), 3);
}

TEST(PostgresCli, ServerRestartedMidScanTheScanCompletes) {
  auto& pg = test::pg_sandbox();
  const auto& ref = reference();
  const std::string uri = pg.fresh_database();
  test::TempDir dir;
  const pid_t scan = spawn(args_for("scan", uri, {test::photos_dir().string()}, {"--batch", "1"}));
  ASSERT_GT(scan, 0);
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    try {
      if (pg.count(uri, "SELECT count(*) FROM results") > 0) break;
    } catch (const std::exception&) {
      // the schema is being created
    }
  }
  pg.stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  pg.start();
  EXPECT_EQ(wait_for(scan), 0);
  EXPECT_EQ(exported(uri, "csv"), ref.csv);
  expect_one_row_per_photo_and_model(pg, uri);
}

TEST(PostgresCli, WorkNeedsAPostgresSurveyAndPasswordsStayHidden) {
  test::TempDir dir;
  const auto r = test::run_command(args_for("work", (dir / "s.db").string(), {}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("postgresql://"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "s.db"));
  const auto bad = test::run_binscan({"export", "--format", "csv", "--db",
                                      "postgresql://u:hunter2@/d?host=" + (dir / "none").string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err.find("hunter2"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("u:***@"), std::string::npos) << bad.err;
}

TEST(PostgresCli, ThePasswordLeavesTheProcessTitle) {
  auto& pg = test::pg_sandbox();
  // Trust authentication ignores the password: the worker connects and waits for work.
  std::string uri = pg.fresh_database();
  uri.replace(uri.find("binscan@"), 8, "binscan:hunter2@");
  const pid_t pid = spawn(args_for("work", uri, {}, {"--follow"}));
  ASSERT_GT(pid, 0);
  std::string cmdline;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    cmdline = ss.str();
    if (cmdline.find("***") != std::string::npos) break;
  }
  ::kill(pid, SIGTERM);
  // 0 when it was already waiting for work, 143 when still loading its models.
  const int code = wait_for(pid);
  EXPECT_TRUE(code == 0 || code == 128 + SIGTERM) << code;
  EXPECT_EQ(cmdline.find("hunter2"), std::string::npos);
  EXPECT_NE(cmdline.find("binscan:***@"), std::string::npos);
}

TEST(PostgresCli, ANameThatIsNotUtf8IsOneFailureNotAFailedScan) {
  auto& pg = test::pg_sandbox();
  const std::string uri = pg.fresh_database();
  test::TempDir dir;
  const auto photos = test::all_photos();
  fs::copy_file(photos.at(0), dir / "ok.jpg");
  fs::copy_file(photos.at(1), dir / "caf\xe9.jpg");  // Latin-1, as an old camera card writes
  const auto r = test::run_command(args_for("scan", uri, {dir.path().string()}));
  EXPECT_EQ(r.exit_code, 1) << r.err;  // something failed
  EXPECT_NE(r.err.find("not UTF-8"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("1 failed"), std::string::npos) << r.out;
  EXPECT_EQ(pg.count(uri, "SELECT count(*) FROM results"), 2);
}

// A role that logs in with a password (scripts/pg-sandbox: every role but the superuser must),
// owning a fresh survey database; its name.
std::string password_survey(test::PgSandbox& pg, const std::string& role,
                            const std::string& password) {
  pg.sql(pg.socket_uri("postgres"), "CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'");
  const std::string uri = pg.fresh_database(role);
  return uri.substr(uri.find("@/") + 2, uri.find('?') - uri.find("@/") - 2);
}

// Two shared photos in a folder of their own (a short scan).
struct TwoPhotos {
  test::TempDir dir;
  TwoPhotos() {
    const auto photos = test::all_photos();
    fs::copy_file(photos.at(0), dir / "a.jpg");
    fs::copy_file(photos.at(1), dir / "b.jpg");
  }
  std::string path() const { return dir.path().string(); }
};

// Everything the survey holds, as pg_dump writes it (to look for a password in it).
std::string dumped(const test::PgSandbox& pg, const std::string& name) {
  const auto r = test::run_command(
      {"/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "-d", pg.socket_uri(name)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

// The password comes from the URI, PGPASSWORD or ~/.pgpass, as with psql; a wrong or missing one
// is a one-line error; the password reaches neither the output nor the database.
TEST(PostgresCli, APasswordFromTheUriPgpasswordOrPgpassNeverShownNorStored) {
  auto& pg = test::pg_sandbox();
  const std::string secret = "Tr4sh-b1ns-4ll-d4y";
  const std::string name = password_survey(pg, "city", secret);
  const TwoPhotos photos;
  test::TempDir home;
  const std::string no_pgpass = "PGPASSFILE=" + (home / "none").string();

  const auto wrong = test::run_command(
      args_for("scan", pg.socket_uri(name, "city:N0t-1t-9x"), {photos.path()}), {no_pgpass});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("password authentication failed"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("N0t-1t-9x"), std::string::npos) << wrong.err;
  EXPECT_EQ(std::count(wrong.err.begin(), wrong.err.end(), '\n'), 1) << wrong.err;

  const auto none = test::run_command(
      args_for("scan", pg.socket_uri(name, "city"), {photos.path()}), {no_pgpass});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("password"), std::string::npos) << none.err;

  // In the URI (redacted in the summary), then from PGPASSWORD, then from ~/.pgpass.
  const auto in_uri = test::run_command(args_for("scan", pg.socket_uri(name, "city:" + secret),
                                                 {photos.path()}, {"--format", "json"}),
                                        {no_pgpass});
  EXPECT_EQ(in_uri.exit_code, 0) << in_uri.err;
  EXPECT_NE(in_uri.out.find("city:***@"), std::string::npos) << in_uri.out;
  const auto summary = nlohmann::json::parse(in_uri.out);
  EXPECT_EQ(summary.at("queue").at("done"), 2) << in_uri.out;
  EXPECT_EQ(summary.at("queue").at("pending"), 0) << in_uri.out;
  const auto from_env =
      test::run_command(args_for("scan", pg.socket_uri(name, "city"), {photos.path()}),
                        {no_pgpass, "PGPASSWORD=" + secret});
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
  {
    std::ofstream(home / ".pgpass") << "*:*:*:city:" << secret << "\n";
    fs::permissions(home / ".pgpass", fs::perms::owner_read | fs::perms::owner_write);
  }
  const auto from_pgpass =
      test::run_binscan({"export", "--format", "csv", "--db", pg.socket_uri(name, "city")},
                        {"HOME=" + home.path().string(), "PGPASSFILE="});
  EXPECT_EQ(from_pgpass.exit_code, 0) << from_pgpass.err;
  EXPECT_EQ(std::count(from_pgpass.out.begin(), from_pgpass.out.end(), '\n'), 1 + 2 * 2)
      << from_pgpass.out;

  for (const auto* r : {&wrong, &none, &in_uri, &from_env, &from_pgpass}) {
    EXPECT_EQ(r->out.find(secret), std::string::npos) << r->out;
    EXPECT_EQ(r->err.find(secret), std::string::npos) << r->err;
  }
  const std::string dump = dumped(pg, name);
  EXPECT_NE(dump.find("a.jpg"), std::string::npos);  // the dump does hold the survey
  EXPECT_EQ(dump.find(secret), std::string::npos);
}

// A city's server over TCP takes TLS only (the sandbox has no non-TLS line for TCP): binscan
// connects with sslmode=verify-full against the server's certificate, and a connection without
// TLS is refused in one line.
TEST(PostgresCli, OverTlsWithTheServersCertificateVerified) {
  test::PgSandbox pg(test::free_tcp_port());
  const std::string secret = "0v3r-TLS-0nly";
  const std::string name = password_survey(pg, "city", secret);
  const TwoPhotos photos;
  const std::string tcp =
      "postgresql://city:" + secret + "@localhost:" + std::to_string(pg.tcp_port()) + "/" + name;
  const auto plain = test::run_command(args_for("scan", tcp + "?sslmode=disable", {photos.path()}));
  EXPECT_EQ(plain.exit_code, 1);
  EXPECT_NE(plain.err.find("no encryption"), std::string::npos) << plain.err;
  EXPECT_EQ(plain.err.find(secret), std::string::npos) << plain.err;

  const std::string verified = tcp + "?sslmode=verify-full&sslrootcert=" + pg.root_certificate();
  const auto scan = test::run_command(args_for("scan", verified, {photos.path()}));
  EXPECT_EQ(scan.exit_code, 0) << scan.err;
  EXPECT_EQ(pg.count(pg.socket_uri(name), "SELECT count(*) FROM results"), 2 * 2);
  // Besides its own share, a worker's summary says where the whole survey is.
  EXPECT_NE(scan.out.find("survey: 2 done, 0 pending, 0 leased, 0 failed; 1 workers seen"),
            std::string::npos)
      << scan.out;

  // The certificate is checked: it names localhost and 127.0.0.1, not "bins.example".
  const auto mismatch = test::run_binscan(
      {"export", "--format", "csv", "--db",
       "postgresql://city:" + secret + "@bins.example:" + std::to_string(pg.tcp_port()) + "/" +
           name + "?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=" + pg.root_certificate()});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.err.find("does not match host name"), std::string::npos) << mismatch.err;
  EXPECT_EQ(mismatch.err.find(secret), std::string::npos) << mismatch.err;
}

}  // namespace
}  // namespace binscan

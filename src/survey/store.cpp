#include "survey/store.h"

#include <sqlite3.h>

#include <chrono>
#include <ctime>

#include "util/error.h"

namespace binscan {
namespace {

// Thin RAII around a prepared statement; binds by position, 1-based as SQLite does.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql, const std::filesystem::path& file) : db_(db), file_(file) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Stmt& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
  Stmt& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  template <typename T>
  Stmt& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    check(sqlite3_bind_null(stmt_, i));
    return *this;
  }

  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
  }
  void run() {
    while (step()) {
    }
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool is_null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(stmt_, c);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string();
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(stmt_, c); }
  double f64(int c) const { return sqlite3_column_double(stmt_, c); }
  std::optional<std::string> opt_text(int c) const {
    return is_null(c) ? std::nullopt : std::optional(text(c));
  }
  std::optional<double> opt_f64(int c) const {
    return is_null(c) ? std::nullopt : std::optional(f64(c));
  }
  std::optional<int> opt_int(int c) const {
    return is_null(c) ? std::nullopt : std::optional(static_cast<int>(i64(c)));
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail("bind");
  }
  [[noreturn]] void fail(const char* what) {
    if (sqlite3_errcode(db_) == SQLITE_NOTADB) {
      throw Error(ErrorKind::kFormat, file_.string(), "not a binscan database (not SQLite)");
    }
    throw Error(ErrorKind::kIo, file_.string(),
                std::string("database ") + what + " failed: " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  const std::filesystem::path& file_;
};

// A photo seen again: everything it records is refreshed, except when it was first seen.
constexpr const char* kPhotoRefresh = R"sql(
  ON CONFLICT (sha256) DO UPDATE SET
    path = excluded.path, size = excluded.size, format = excluded.format,
    width = excluded.width, height = excluded.height, orientation = excluded.orientation,
    taken_at = excluded.taken_at, gps_time = excluded.gps_time, lat = excluded.lat,
    lon = excluded.lon, alt = excluded.alt, bearing = excluded.bearing,
    bearing_ref = excluded.bearing_ref, make = excluded.make,
    camera_model = excluded.camera_model, error = excluded.error,
    focal_35mm = excluded.focal_35mm, last_seen = excluded.last_seen)sql";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS photos (
  sha256      TEXT PRIMARY KEY,
  path        TEXT NOT NULL,
  size        INTEGER NOT NULL,
  format      TEXT,
  width       INTEGER,
  height      INTEGER,
  orientation INTEGER,
  taken_at    TEXT,
  gps_time    TEXT,
  lat         REAL,
  lon         REAL,
  alt         REAL,
  bearing     REAL,
  bearing_ref TEXT,
  make        TEXT,
  camera_model TEXT,
  error       TEXT,
  first_seen  TEXT NOT NULL,
  last_seen   TEXT NOT NULL,
  focal_35mm  INTEGER
);
CREATE TABLE IF NOT EXISTS paths (
  path     TEXT PRIMARY KEY,
  sha256   TEXT NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  seen_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paths_by_sha256 ON paths(sha256);
CREATE TABLE IF NOT EXISTS results (
  sha256          TEXT NOT NULL REFERENCES photos(sha256),
  model_id        TEXT NOT NULL,
  revision        TEXT NOT NULL,
  remote          INTEGER NOT NULL,
  top_k           TEXT NOT NULL,
  top1_label      TEXT NOT NULL,
  top1_score      REAL NOT NULL,
  bin_score       REAL NOT NULL,
  bin_score_exact INTEGER NOT NULL,
  bin_rank        INTEGER,
  known_ranks     INTEGER NOT NULL,
  bin_labels      TEXT NOT NULL,
  threshold       REAL NOT NULL,
  verdict         INTEGER NOT NULL,
  prepare_ms      REAL NOT NULL,
  infer_ms        REAL NOT NULL,
  batch_size      INTEGER NOT NULL,
  created_at      TEXT NOT NULL,
  UNIQUE (sha256, model_id, revision)
);
CREATE TABLE IF NOT EXISTS runs (
  id          INTEGER PRIMARY KEY,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  status      TEXT NOT NULL,
  args        TEXT NOT NULL,
  summary     TEXT
);
)sql";

}  // namespace

std::string utc_now_iso() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count()));
  return buf;
}

Store::Store(const std::filesystem::path& path, Mode mode) : path_(path) {
  const int flags =
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (mode == Mode::kReadOnly && !std::filesystem::exists(path)) {
    throw Error(ErrorKind::kIo, path.string(),
                "no such database (run 'binscan scan' first, or give --db FILE)");
  }
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorKind::kIo, path.string(), "cannot open database: " + msg);
  }
  // Another binscan writing the same file waits rather than failing at once.
  sqlite3_busy_timeout(db_, 30000);
  try {
    if (mode == Mode::kReadWrite) {
      // WAL: readers never block the writer and a crash leaves the last committed state.
      // synchronous=NORMAL is durable against process crashes (kill -9); a power loss may drop
      // the last transactions but never corrupts the file.
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
    }
    exec("PRAGMA foreign_keys=ON");
    migrate();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::in_transaction(const std::function<void()>& body) {
  exec("BEGIN IMMEDIATE");
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    const bool not_db = sqlite3_errcode(db_) == SQLITE_NOTADB;
    throw Error(not_db ? ErrorKind::kFormat : ErrorKind::kIo, path_.string(),
                not_db ? "not a binscan database (not SQLite)" : "database error: " + msg);
  }
}

void Store::migrate() {
  int version = 0;
  {
    Stmt s(db_, "PRAGMA user_version", path_);
    if (s.step()) version = static_cast<int>(s.i64(0));
  }
  if (version > kSchemaVersion) {
    throw Error(ErrorKind::kUnsupported, path_.string(),
                "database schema version " + std::to_string(version) +
                    " was written by a newer binscan (this one reads up to " +
                    std::to_string(kSchemaVersion) + ")");
  }
  version_ = version;
  if (version == kSchemaVersion) return;
  if (sqlite3_db_readonly(db_, "main") == 1) {
    if (version >= 1) return;  // an older survey, read as it is
    throw Error(ErrorKind::kFormat, path_.string(),
                "no binscan survey in this database (run 'binscan scan' first)");
  }
  if (version == 0) {
    // A fresh file, or an SQLite file that is not ours.
    Stmt s(db_,
           "SELECT count(*) FROM sqlite_master WHERE name NOT IN "
           "('photos','paths','results','runs','paths_by_sha256')",
           path_);
    if (s.step() && s.i64(0) > 0) {
      throw Error(ErrorKind::kFormat, path_.string(),
                  "not a binscan database (it has other tables); give another --db FILE");
    }
  }
  in_transaction([&] {
    // Schema 1 -> 2: the 35 mm focal length, appended as a fresh schema has it (last).
    if (version == 1) exec("ALTER TABLE photos ADD COLUMN focal_35mm INTEGER");
    exec(kSchema);
    exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
  });
  version_ = kSchemaVersion;
}

void Store::commit(const CommitBatch& batch) {
  if (batch.empty()) return;
  std::lock_guard lock(mutex_);
  const std::string now = utc_now_iso();
  in_transaction(
      [&] {
        {
          Stmt s(db_,
                 (R"sql(
        INSERT INTO photos (sha256, path, size, format, width, height, orientation, taken_at,
                            gps_time, lat, lon, alt, bearing, bearing_ref, make, camera_model,
                            error, first_seen, last_seen, focal_35mm)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18,
                ?19)
        )sql" + std::string(kPhotoRefresh))
                     .c_str(),
                 path_);
          for (const auto& p : batch.photos) {
            s.bind(1, p.sha256).bind(2, p.path).bind(3, p.size).bind(4, p.format).bind(5, p.width);
            s.bind(6, p.height).bind(7, p.orientation).bind(8, p.taken_at).bind(9, p.gps_time);
            s.bind(10, p.lat).bind(11, p.lon).bind(12, p.alt).bind(13, p.bearing);
            s.bind(14, p.bearing_ref).bind(15, p.make).bind(16, p.camera_model).bind(17, p.error);
            s.bind(18, now).bind(19, p.focal_35mm);
            s.run();
          }
        }
        {
          Stmt s(db_, R"sql(
        INSERT INTO paths (path, sha256, size, mtime_ns, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)
        ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
          mtime_ns = excluded.mtime_ns, seen_at = excluded.seen_at)sql",
                 path_);
          for (const auto& p : batch.paths) {
            s.bind(1, p.path).bind(2, p.sha256).bind(3, p.size).bind(4, p.mtime_ns).bind(5, now);
            s.run();
          }
        }
        {
          Stmt s(db_, "UPDATE photos SET path = ?2, last_seen = ?3 WHERE sha256 = ?1", path_);
          for (const auto& [sha, path] : batch.relocations) {
            s.bind(1, sha).bind(2, path).bind(3, now);
            s.run();
          }
        }
        {
          Stmt s(db_, R"sql(
        INSERT INTO results (sha256, model_id, revision, remote, top_k, top1_label, top1_score,
                             bin_score, bin_score_exact, bin_rank, known_ranks, bin_labels,
                             threshold, verdict, prepare_ms, infer_ms, batch_size, created_at)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
        ON CONFLICT (sha256, model_id, revision) DO NOTHING)sql",
                 path_);
          for (const auto& r : batch.results) {
            s.bind(1, r.sha256).bind(2, r.model.id).bind(3, r.model.revision).bind(4, r.remote);
            s.bind(5, r.top_json).bind(6, r.top1_label).bind(7, r.top1_score).bind(8, r.bin_score);
            s.bind(9, r.bin_score_exact).bind(10, r.bin_rank).bind(11, r.known_ranks);
            s.bind(12, r.bin_labels_json).bind(13, r.threshold).bind(14, r.verdict);
            s.bind(15, r.prepare_ms).bind(16, r.infer_ms).bind(17, r.batch_size);
            s.bind(18, r.created_at.empty() ? now : r.created_at);
            s.run();
          }
        }
      });
}

MergeCounts Store::merge_from(const std::filesystem::path& source) {
  int source_version = 0;
  {
    // A readable binscan database of a schema this binscan knows, or a clear error naming it.
    const Store check(source, Mode::kReadOnly);
    source_version = check.schema_version();
  }
  std::error_code ec;
  if (std::filesystem::equivalent(source, path_, ec)) {
    throw Error(ErrorKind::kConfig, source.string(), "is the database being merged into");
  }
  std::lock_guard lock(mutex_);
  auto count = [&](const char* sql) {
    Stmt s(db_, sql, path_);
    return s.step() ? s.i64(0) : 0;
  };
  {
    Stmt attach(db_, "ATTACH DATABASE ?1 AS src", path_);
    attach.bind(1, source.string());
    attach.run();
  }
  MergeCounts counts;
  const auto photos_before = count("SELECT count(*) FROM photos");
  const auto results_before = count("SELECT count(*) FROM results");
  const auto runs_before = count("SELECT count(*) FROM runs");
  const auto results_offered = count("SELECT count(*) FROM src.results");
  try {
    // "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    in_transaction([&] {
      exec((R"sql(
      INSERT INTO photos (sha256, path, size, format, width, height, orientation, taken_at,
                          gps_time, lat, lon, alt, bearing, bearing_ref, make, camera_model, error,
                          first_seen, last_seen, focal_35mm)
      SELECT sha256, path, size, format, width, height, orientation, taken_at, gps_time, lat,
             lon, alt, bearing, bearing_ref, make, camera_model, error, first_seen, last_seen,
)sql" + std::string(source_version >= 2 ? "focal_35mm" : "NULL") +
            " FROM src.photos WHERE true" + std::string(kPhotoRefresh) +
            R"sql(
      WHERE excluded.last_seen > photos.last_seen;
      UPDATE photos SET first_seen = s.first_seen FROM src.photos AS s
      WHERE s.sha256 = photos.sha256 AND s.first_seen < photos.first_seen;
      INSERT INTO paths SELECT * FROM src.paths WHERE true
      ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,
        mtime_ns = excluded.mtime_ns, seen_at = excluded.seen_at
      WHERE excluded.seen_at > paths.seen_at;
      INSERT INTO results SELECT * FROM src.results WHERE true
      ON CONFLICT (sha256, model_id, revision) DO NOTHING;
      INSERT INTO runs (started_at, finished_at, status, args, summary)
      SELECT started_at, finished_at, status, args, summary FROM src.runs AS r
      WHERE NOT EXISTS (SELECT 1 FROM runs AS m WHERE m.started_at = r.started_at
                        AND m.args = r.args AND m.status = r.status)
      ORDER BY r.id;
    )sql")
               .c_str());
    });
  } catch (...) {
    sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    throw;
  }
  exec("DETACH DATABASE src");
  counts.photos = count("SELECT count(*) FROM photos") - photos_before;
  counts.results = count("SELECT count(*) FROM results") - results_before;
  counts.results_known = results_offered - counts.results;
  counts.runs = count("SELECT count(*) FROM runs") - runs_before;
  return counts;
}

std::optional<PathRecord> Store::find_path(const std::string& path) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "SELECT sha256, size, mtime_ns FROM paths WHERE path = ?1", path_);
  s.bind(1, path);
  if (!s.step()) return std::nullopt;
  return PathRecord{path, s.text(0), s.i64(1), s.i64(2)};
}

PhotoState Store::photo_state(const std::string& sha256) {
  std::lock_guard lock(mutex_);
  PhotoState st;
  {
    Stmt s(db_, "SELECT path, error FROM photos WHERE sha256 = ?1", path_);
    s.bind(1, sha256);
    if (!s.step()) return st;
    st.known = true;
    st.path = s.text(0);
    st.error = s.opt_text(1);
  }
  Stmt s(db_, "SELECT model_id, revision FROM results WHERE sha256 = ?1", path_);
  s.bind(1, sha256);
  while (s.step()) st.models_done.push_back({s.text(0), s.text(1)});
  return st;
}

int Store::prune_missing_paths(const std::vector<std::filesystem::path>& roots) {
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mutex_);
    Stmt s(db_, "SELECT path FROM paths", path_);
    while (s.step()) {
      const std::string p = s.text(0);
      bool under = false;
      for (const auto& root : roots) {
        const std::string r = root.string();
        if (p == r || (p.size() > r.size() && p.compare(0, r.size(), r) == 0 &&
                       (r.back() == '/' || p[r.size()] == '/'))) {
          under = true;
          break;
        }
      }
      std::error_code ec;
      if (under && !std::filesystem::exists(p, ec) && !ec) gone.push_back(p);
    }
  }
  if (gone.empty()) return 0;
  std::lock_guard lock(mutex_);
  in_transaction([&] {
    Stmt s(db_, "DELETE FROM paths WHERE path = ?1", path_);
    for (const auto& p : gone) {
      s.bind(1, p);
      s.run();
    }
  });
  return static_cast<int>(gone.size());
}

std::vector<PhotoRecord> Store::photos() {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         (R"sql(
    SELECT sha256, path, size, format, width, height, orientation, taken_at, gps_time, lat, lon,
           alt, bearing, bearing_ref, make, camera_model, error, )sql" +
          std::string(version_ >= 2 ? "focal_35mm" : "NULL") + R"sql(
    FROM photos ORDER BY path, sha256)sql")
             .c_str(),
         path_);
  std::vector<PhotoRecord> out;
  while (s.step()) {
    PhotoRecord p;
    p.sha256 = s.text(0);
    p.path = s.text(1);
    p.size = s.i64(2);
    p.format = s.opt_text(3);
    p.width = s.opt_int(4);
    p.height = s.opt_int(5);
    p.orientation = s.opt_int(6);
    p.taken_at = s.opt_text(7);
    p.gps_time = s.opt_text(8);
    p.lat = s.opt_f64(9);
    p.lon = s.opt_f64(10);
    p.alt = s.opt_f64(11);
    p.bearing = s.opt_f64(12);
    p.bearing_ref = s.opt_text(13);
    p.make = s.opt_text(14);
    p.camera_model = s.opt_text(15);
    p.error = s.opt_text(16);
    p.focal_35mm = s.opt_int(17);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<ResultRecord> Store::results() {
  std::lock_guard lock(mutex_);
  Stmt s(db_, R"sql(
    SELECT r.sha256, r.model_id, r.revision, r.remote, r.top_k, r.top1_label, r.top1_score,
           r.bin_score, r.bin_score_exact, r.bin_rank, r.known_ranks, r.bin_labels, r.threshold,
           r.verdict, r.prepare_ms, r.infer_ms, r.batch_size, r.created_at
    FROM results r JOIN photos p ON p.sha256 = r.sha256
    ORDER BY p.path, r.sha256, r.rowid)sql",
         path_);
  std::vector<ResultRecord> out;
  while (s.step()) {
    ResultRecord r;
    r.sha256 = s.text(0);
    r.model = {s.text(1), s.text(2)};
    r.remote = s.i64(3) != 0;
    r.top_json = s.text(4);
    r.top1_label = s.text(5);
    r.top1_score = s.f64(6);
    r.bin_score = s.f64(7);
    r.bin_score_exact = s.i64(8) != 0;
    r.bin_rank = s.opt_int(9);
    r.known_ranks = static_cast<int>(s.i64(10));
    r.bin_labels_json = s.text(11);
    r.threshold = s.f64(12);
    r.verdict = s.i64(13) != 0;
    r.prepare_ms = s.f64(14);
    r.infer_ms = s.f64(15);
    r.batch_size = static_cast<int>(s.i64(16));
    r.created_at = s.text(17);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<ModelKey> Store::models() {
  std::lock_guard lock(mutex_);
  Stmt s(db_, R"sql(
    SELECT model_id, revision FROM results GROUP BY model_id, revision ORDER BY min(rowid))sql",
         path_);
  std::vector<ModelKey> out;
  while (s.step()) out.push_back({s.text(0), s.text(1)});
  return out;
}

std::int64_t Store::begin_run(const std::string& args_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "INSERT INTO runs (started_at, status, args) VALUES (?1, 'running', ?2)", path_);
  s.bind(1, utc_now_iso()).bind(2, args_json);
  s.run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::end_run(std::int64_t run_id, const std::string& status,
                    const std::string& summary_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE runs SET finished_at = ?2, status = ?3, summary = ?4 WHERE id = ?1", path_);
  s.bind(1, run_id).bind(2, utc_now_iso()).bind(3, status).bind(4, summary_json);
  s.run();
}

}  // namespace binscan

#include "store/postgres_store.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>
#include <unordered_set>
#include <utility>

#include "store/columns.h"
#include "store/sql_gen.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan {
namespace {

using sql::join;
using sql::names;
using sql::select_list;

// PostgreSQL spells parameter i as $i; its type is sent with it (text, int8, float8).
std::string param(int i, columns::Type) { return "$" + std::to_string(i); }

Oid oid_of(columns::Type type) {
  switch (type) {
    case columns::Type::kText:
      return 25;  // text
    case columns::Type::kInteger:
      return 20;  // int8
    case columns::Type::kReal:
      return 701;  // float8
  }
  return 25;
}

std::string_view type_name(columns::Type type) {
  switch (type) {
    case columns::Type::kText:
      return "text";
    case columns::Type::kInteger:
      return "bigint";
    case columns::Type::kReal:
      return "double precision";
  }
  return "text";
}

// A statement's parameters as libpq takes them: text, NULL as a null pointer. Doubles are
// written shortest-exact (std::to_chars), so they come back bit for bit.
class Params {
 public:
  Params& add(const columns::Value& v, columns::Type type) {
    types_.push_back(oid_of(type));
    if (const auto* t = std::get_if<std::string>(&v)) {
      values_.emplace_back(*t);
    } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
      values_.emplace_back(std::to_string(*n));
    } else if (const auto* d = std::get_if<double>(&v)) {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, *d);
      values_.emplace_back(std::string(buf, r.ptr));
    } else {
      values_.emplace_back(std::nullopt);
    }
    return *this;
  }
  Params& text(const std::string& v) { return add(v, columns::Type::kText); }
  Params& integer(std::int64_t v) { return add(v, columns::Type::kInteger); }
  template <typename Row>
  Params& row(const columns::Table<Row>& t, const Row& r) {
    for (const auto& c : t.columns) add(c.get(r), c.type);
    return *this;
  }
  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
    return out;
  }

 private:
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
};

// A lost connection (the server restarted, the network dropped): reconnect and run again.
struct ConnectionLost {
  std::string cause;
};
// A deadlock or serialization victim: run the transaction again.
struct TryAgain {};

}  // namespace

// One libpq connection and what runs on it. Results are owned (PQclear) by Result.
class PostgresStore::Conn {
 public:
  struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using Result = std::unique_ptr<PGresult, ResultDeleter>;

  Conn(const std::string& uri, const std::string& where) : where_(where) {
    // fallback_application_name: the sessions show as binscan in pg_stat_activity.
    const char* keys[] = {"dbname", "fallback_application_name", nullptr};
    const char* values[] = {uri.c_str(), "binscan", nullptr};
    conn_.reset(PQconnectdbParams(keys, values, 1));
    if (!conn_) throw Error(ErrorKind::kIo, where_, "cannot connect: out of memory");
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      throw ConnectionLost{"cannot connect: " + message()};
    }
    PQsetNoticeProcessor(
        conn_.get(), [](void*, const char*) {}, nullptr);
  }

  // Runs one statement; rows (tuples) or a command's count. Throws ConnectionLost, TryAgain or
  // Error(kIo) naming the survey.
  Result exec(const std::string& sql, const Params& p = Params()) {
    const auto values = p.pointers();
    return check(Result(PQexecParams(conn_.get(), sql.c_str(), p.size(), p.types(), values.data(),
                                     nullptr, nullptr, 0)));
  }
  // Several statements without parameters: the schema, generated here, never a value.
  void script(const std::string& sql) { check(Result(PQexec(conn_.get(), sql.c_str()))); }

  Result check(Result r) {
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state ? state : "";
    std::string msg = r ? PQresultErrorMessage(r.get()) : message();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (PQstatus(conn_.get()) == CONNECTION_BAD || code.starts_with("08") || code == "57P01" ||
        code == "57P02" || code == "57P03") {
      throw ConnectionLost{msg};
    }
    if (code == "40001" || code == "40P01") throw TryAgain{};
    // One line: libpq's message may carry a DETAIL or HINT line.
    if (const auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
    throw Error(ErrorKind::kIo, where_, "database error: " + msg);
  }
  std::int64_t changed(const Result& r) const {
    const char* n = PQcmdTuples(r.get());
    return n && *n ? std::strtoll(n, nullptr, 10) : 0;
  }
  bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }

  static bool is_null(const Result& r, int row, int col) {
    return PQgetisnull(r.get(), row, col) != 0;
  }
  static std::string text(const Result& r, int row, int col) {
    return std::string(PQgetvalue(r.get(), row, col),
                       static_cast<std::size_t>(PQgetlength(r.get(), row, col)));
  }
  static std::int64_t i64(const Result& r, int row, int col) {
    return std::strtoll(PQgetvalue(r.get(), row, col), nullptr, 10);
  }
  static columns::Value value(const Result& r, int row, int col, columns::Type type) {
    if (is_null(r, row, col)) return {};
    const char* v = PQgetvalue(r.get(), row, col);
    switch (type) {
      case columns::Type::kText:
        return text(r, row, col);
      case columns::Type::kInteger:
        return static_cast<std::int64_t>(std::strtoll(v, nullptr, 10));
      case columns::Type::kReal: {
        double d = 0;
        std::from_chars(v, v + std::strlen(v), d);
        return d;
      }
    }
    return {};
  }
  template <typename Row>
  static Row read_row(const Result& r, int row, const columns::Table<Row>& t) {
    Row out;
    int i = 0;
    for (const auto& c : t.columns) c.set(out, value(r, row, i++, c.type));
    return out;
  }

 private:
  std::string message() const {
    std::string m = conn_ ? PQerrorMessage(conn_.get()) : "";
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    // libpq's "connection to server on socket ... failed: ...\n..." as one line.
    for (auto& ch : m) {
      if (ch == '\n') ch = ' ';
    }
    return m;
  }
  struct ConnDeleter {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  std::unique_ptr<PGconn, ConnDeleter> conn_;
  std::string where_;
};

namespace {

using Conn = PostgresStore::Conn;
using Result = Conn::Result;

// Row `i` of a SELECT of sql::model_run_columns, appended to `out`.
void out_model_run(std::vector<ModelKey>& out, const Result& r, int i) {
  out.push_back(
      {Conn::text(r, i, 0), Conn::text(r, i, 1), Conn::text(r, i, 2), Conn::text(r, i, 3)});
}

template <typename Row>
std::string declaration(const columns::Column<Row>& c) {
  std::string d(type_name(c.type));
  if (c.key == columns::Key::kPrimary) {
    // runs.id numbers itself; the other keys are given.
    if (c.type == columns::Type::kInteger) d += " GENERATED BY DEFAULT AS IDENTITY";
    d += " PRIMARY KEY";
  } else if (!c.nullable) {
    d += " NOT NULL";
  }
  if (c.key == columns::Key::kPhotoSha256)
    d += " REFERENCES " + std::string(columns::photos().name) + "(sha256)";
  return d;
}

// The columns of schema `version` (a test makes an old survey with an older one).
template <typename Row>
std::string create_table(const columns::Table<Row>& t, int version, const std::string& extra) {
  std::vector<std::string> lines;
  for (const auto& c : t.columns) {
    if (c.since_schema <= version)
      lines.push_back("  " + std::string(c.name) + " " + declaration(c));
  }
  const auto unique = t.unique_at(version);
  if (!unique.empty() && !(unique.size() == 1 && t.columns[0].name == unique[0] &&
                           t.columns[0].key == columns::Key::kPrimary)) {
    lines.push_back("  UNIQUE (" + join(names(unique), ", ") + ")");
  }
  if (!extra.empty()) lines.push_back(extra);
  std::string s =
      "CREATE TABLE IF NOT EXISTS " + std::string(t.name) + " (\n" + join(lines, ",\n") + "\n);\n";
  for (const auto& ix : columns::indexes()) {
    if (ix.table != t.name) continue;
    s += "CREATE INDEX IF NOT EXISTS " + std::string(ix.name) + " ON " + std::string(ix.table) +
         "(" + std::string(ix.column) + ");\n";
  }
  return s;
}

template <typename Row>
std::string upgrade_table(const columns::Table<Row>& t, int from) {
  const std::string name(t.name);
  std::string s;
  for (const auto& c : t.columns) {
    if (c.since_schema > from) {
      // Rows already there take the column's "none" (a classifier's empty label set).
      s += "ALTER TABLE " + name + " ADD COLUMN IF NOT EXISTS " + std::string(c.name) + " " +
           declaration(c) + (c.nullable ? "" : " DEFAULT " + sql::missing_value(c)) + ";\n";
    }
  }
  if (from < t.unique_since) {
    // The key changed: PostgreSQL's name for the old constraint, then the new one.
    s += "ALTER TABLE " + name + " DROP CONSTRAINT IF EXISTS " + name + "_" +
         join(names(t.unique_before), "_") + "_key;\nALTER TABLE " + name + " ADD CONSTRAINT " +
         name + "_run_key UNIQUE (" + join(names(t.unique), ", ") + ");\n";
  }
  return s;
}

// What only PostgreSQL has: geometries, the located bins, the views for QGIS, the work queue.
// Everything IF NOT EXISTS / OR REPLACE, so it is run on every upgrade.
constexpr const char* kPostgisSchema = R"sql(
CREATE INDEX IF NOT EXISTS photos_geom ON photos USING gist (geom);
CREATE INDEX IF NOT EXISTS results_by_sha256 ON results (sha256);
CREATE TABLE IF NOT EXISTS bins (
  id          integer PRIMARY KEY,
  lat         double precision NOT NULL,
  lon         double precision NOT NULL,
  method      text NOT NULL,
  spread_m    double precision NOT NULL,
  best_score  double precision NOT NULL,
  photos      integer NOT NULL,
  located_at  text NOT NULL,
  geom        geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
);
CREATE INDEX IF NOT EXISTS bins_geom ON bins USING gist (geom);
CREATE TABLE IF NOT EXISTS sight_lines (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bin         integer NOT NULL REFERENCES bins(id) ON DELETE CASCADE,
  sha256      text NOT NULL,
  geom        geometry(LineString, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS sight_lines_geom ON sight_lines USING gist (geom);
CREATE OR REPLACE VIEW photo_verdicts AS
  SELECT r.seq AS id, p.sha256, p.path, p.taken_at, p.lat, p.lon, p.bearing, r.model_id,
         r.revision, r.top1_label, r.bin_score, r.bin_rank, r.threshold, r.verdict = 1 AS verdict,
         p.geom, r.candidate_labels, r.hypothesis_template
  FROM results r JOIN photos p ON p.sha256 = r.sha256;
CREATE OR REPLACE VIEW located_bins AS
  SELECT id, method, spread_m, best_score, photos, located_at, lat, lon, geom FROM bins;
CREATE OR REPLACE VIEW bin_sight_lines AS
  SELECT s.id, s.bin, s.sha256, p.path, s.geom
  FROM sight_lines s LEFT JOIN photos p ON p.sha256 = s.sha256;
CREATE TABLE IF NOT EXISTS queue (
  path         text PRIMARY KEY,
  size         bigint NOT NULL,
  mtime_ns     bigint NOT NULL,
  state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done', 'failed')),
  lease_owner  text,
  lease_until  timestamptz,
  attempts     integer NOT NULL DEFAULT 0,
  error        text,
  enqueued_at  timestamptz NOT NULL DEFAULT now(),
  done_at      timestamptz
);
CREATE INDEX IF NOT EXISTS queue_waiting ON queue (state, lease_until) WHERE state IN ('pending', 'leased');
CREATE TABLE IF NOT EXISTS workers (
  id          text PRIMARY KEY,
  host        text NOT NULL,
  pid         integer NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now()
);
)sql";

// The columns PostgreSQL adds to the generated tables: photos' point, results' order.
constexpr const char* kPhotoGeom =
    "  geom geometry(Point, 4326) GENERATED ALWAYS AS (CASE WHEN lat IS NOT NULL AND lon IS NOT "
    "NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END) STORED";
constexpr const char* kResultSeq = "  seq bigint GENERATED ALWAYS AS IDENTITY";

std::string create_schema(int version) {
  return create_table(columns::photos(), version, kPhotoGeom) +
         create_table(columns::paths(), version, "") +
         create_table(columns::results(), version, kResultSeq) +
         create_table(columns::runs(), version, "");
}

std::string upgrade_schema(int from) {
  return upgrade_table(columns::photos(), from) + upgrade_table(columns::paths(), from) +
         upgrade_table(columns::results(), from) + upgrade_table(columns::runs(), from);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

PostgresStore::PostgresStore(const std::string& uri, Mode mode)
    : uri_(uri), where_(redacted_location(uri)), mode_(mode) {
  if (const char* s = std::getenv("BINSCAN_PG_RETRY_SECONDS"); s && *s) {
    retry_for_ = std::chrono::seconds(std::max(0L, std::strtol(s, nullptr, 10)));
  }
  worker_ = host_name() + ":" + std::to_string(::getpid()) + ":" + utc_now_iso();
  std::lock_guard lock(mutex_);
  try {
    conn_ = std::make_unique<Conn>(uri_, where_);
  } catch (const ConnectionLost& e) {
    // At start a server that cannot be reached is a configuration problem: say so at once.
    throw Error(ErrorKind::kIo, where_, e.cause);
  }
  transaction([&](Conn& c) { migrate(c); });
}

PostgresStore::~PostgresStore() = default;

void PostgresStore::connect() {
  conn_.reset();
  conn_ = std::make_unique<Conn>(uri_, where_);
}

void PostgresStore::transaction(const std::function<void(Conn&)>& body) {
  using Clock = std::chrono::steady_clock;
  const auto give_up = Clock::now() + retry_for_;
  auto wait = std::chrono::milliseconds(100);
  std::string last_cause;
  for (;;) {
    try {
      if (!conn_ || !conn_->ok()) connect();
      conn_->exec("BEGIN");
      try {
        body(*conn_);
        conn_->exec("COMMIT");
        return;
      } catch (const Error&) {
        if (conn_->ok()) conn_->exec("ROLLBACK");
        throw;
      } catch (const TryAgain&) {
        if (conn_->ok()) conn_->exec("ROLLBACK");
        throw;
      }
    } catch (const ConnectionLost& e) {
      last_cause = e.cause;
      conn_.reset();
    } catch (const TryAgain&) {
      last_cause = "deadlock or serialization failure";
    }
    if (Clock::now() + wait > give_up) {
      throw Error(
          ErrorKind::kIo, where_,
          "database unreachable for " + std::to_string(retry_for_.count()) + " s: " + last_cause);
    }
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(5000));
  }
}

void PostgresStore::read(const std::function<void(Conn&)>& body) { transaction(body); }

void PostgresStore::migrate(Conn& c) {
  // One binscan at a time creates or upgrades the schema (others wait here).
  c.exec("SELECT pg_advisory_xact_lock(2140620814)");
  const bool has_meta =
      Conn::text(c.exec("SELECT to_regclass('binscan_schema') IS NOT NULL"), 0, 0) == "t";
  int version = 0;
  if (has_meta) {
    const auto r = c.exec("SELECT max(version) FROM binscan_schema");
    if (!Conn::is_null(r, 0, 0)) version = static_cast<int>(Conn::i64(r, 0, 0));
  }
  if (version > kSchemaVersion) {
    throw Error(ErrorKind::kUnsupported, where_,
                "database schema version " + std::to_string(version) +
                    " was written by a newer binscan (this one reads up to " +
                    std::to_string(kSchemaVersion) + ")");
  }
  version_ = version;
  if (version == kSchemaVersion) return;
  if (mode_ == Mode::kReadOnly) {
    if (version >= 1) return;  // an older survey, read as it is
    throw Error(ErrorKind::kFormat, where_,
                "no binscan survey in this database (run 'binscan scan --db URI' first)");
  }
  if (version == 0) {
    const auto r = c.exec(
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN "
        "('photos', 'paths', 'results', 'runs')");
    if (Conn::i64(r, 0, 0) > 0) {
      throw Error(ErrorKind::kFormat, where_,
                  "not a binscan database (it has tables named photos, paths, results or runs "
                  "but no binscan_schema); give another --db");
    }
    const auto postgis =
        c.exec("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'");
    if (Conn::i64(postgis, 0, 0) == 0) {
      throw Error(ErrorKind::kUnsupported, where_,
                  "the server has no PostGIS (Debian: apt-get install postgresql-15-postgis-3)");
    }
    c.exec("CREATE EXTENSION IF NOT EXISTS postgis");
    c.exec("CREATE TABLE IF NOT EXISTS binscan_schema (version integer NOT NULL)");
  }
  if (version >= 1) c.script(upgrade_schema(version));
  c.script(create_schema(kSchemaVersion));
  c.script(kPostgisSchema);
  c.exec("DELETE FROM binscan_schema");
  c.exec("INSERT INTO binscan_schema (version) VALUES (" + std::to_string(kSchemaVersion) + ")");
  version_ = kSchemaVersion;
}

std::vector<bool> PostgresStore::commit(const CommitBatch& batch) {
  std::vector<bool> stored;
  if (batch.empty()) return stored;
  std::lock_guard lock(mutex_);
  const std::string now = utc_now_iso();
  // Rows in key order, so two workers upserting the same photos lock them in the same order
  // (no deadlock); results keep their order within a photo (the models' order).
  std::vector<const PhotoRecord*> photos;
  for (const auto& p : batch.photos) photos.push_back(&p);
  std::stable_sort(photos.begin(), photos.end(),
                   [](const auto* a, const auto* b) { return a->sha256 < b->sha256; });
  std::vector<const PathRecord*> paths;
  for (const auto& p : batch.paths) paths.push_back(&p);
  std::stable_sort(paths.begin(), paths.end(),
                   [](const auto* a, const auto* b) { return a->path < b->path; });
  transaction([&](Conn& c) {
    // The queue paths of the batch, locked until the commit: a lease that ran out and was taken
    // over by another worker means that worker writes the photo, not this one. (One already
    // done is written again harmlessly: a stored result is kept, never doubled.)
    std::unordered_set<std::string> lost;
    for (const auto& p : batch.finished_paths) {
      const auto r = c.exec(
          "SELECT 1 FROM queue WHERE path = $1 AND state = 'leased' AND lease_owner <> $2 "
          "FOR UPDATE",
          Params().text(p).text(worker_));
      if (PQntuples(r.get()) > 0) lost.insert(p);
    }
    std::unordered_set<std::string> lost_photos;  // sha256 of the photos found at lost paths
    for (const auto* p : photos) {
      if (lost.contains(p->path)) lost_photos.insert(p->sha256);
    }
    stored.clear();  // a retried transaction starts over
    const auto& photo_table = columns::photos();
    const std::string photo_sql = sql::insert_row(photo_table, param);
    for (const auto* p : photos) {
      if (lost.contains(p->path)) continue;
      c.exec(photo_sql, Params().row(photo_table, columns::PhotoRow{*p, now, now}));
    }
    const auto& path_table = columns::paths();
    const std::string path_sql = sql::insert_row(path_table, param);
    for (const auto* p : paths) {
      if (lost.contains(p->path)) continue;
      c.exec(path_sql, Params().row(path_table, columns::PathRow{*p, now}));
    }
    for (const auto& [sha, path] : batch.relocations) {
      if (lost.contains(path)) continue;
      c.exec("UPDATE photos SET path = $2, last_seen = $3 WHERE sha256 = $1",
             Params().text(sha).text(path).text(now));
    }
    const auto& result_table = columns::results();
    const std::string result_sql = sql::insert_row(result_table, param);
    for (const auto& r : batch.results) {
      if (lost_photos.contains(r.sha256)) {
        stored.push_back(false);
        continue;
      }
      columns::ResultRow row = r;
      if (row.created_at.empty()) row.created_at = now;
      stored.push_back(c.changed(c.exec(result_sql, Params().row(result_table, row))) > 0);
    }
    for (const auto& p : batch.finished_paths) {
      if (lost.contains(p)) continue;
      c.exec(
          "UPDATE queue SET state = 'done', done_at = now(), error = NULL, lease_owner = NULL, "
          "lease_until = NULL WHERE path = $1",
          Params().text(p));
    }
  });
  return stored;
}

bool PostgresStore::set_occlusion(const std::string& sha256, const ModelKey& model,
                                  const std::string& occlusion_json) {
  std::lock_guard lock(mutex_);
  bool updated = false;
  transaction([&](Conn& c) {
    const auto r = c.exec(
        "UPDATE results SET occlusion = $1 WHERE sha256 = $2 AND model_id = $3 AND revision = $4 "
        "AND candidate_labels = $5 AND hypothesis_template = $6",
        Params()
            .text(valid_utf8(occlusion_json))
            .text(sha256)
            .text(model.id)
            .text(model.revision)
            .text(model.candidate_labels)
            .text(model.hypothesis_template));
    updated = c.changed(r) > 0;
  });
  return updated;
}

std::optional<PathRecord> PostgresStore::find_path(const std::string& path) {
  // A name that is not UTF-8 cannot be in a PostgreSQL survey (and would not even be asked).
  if (valid_utf8(path) != path) return std::nullopt;
  std::lock_guard lock(mutex_);
  std::optional<PathRecord> out;
  read([&](Conn& c) {
    const auto r =
        c.exec("SELECT sha256, size, mtime_ns FROM paths WHERE path = $1", Params().text(path));
    out.reset();
    if (PQntuples(r.get()) > 0) {
      out = PathRecord{path, Conn::text(r, 0, 0), Conn::i64(r, 0, 1), Conn::i64(r, 0, 2)};
    }
  });
  return out;
}

PhotoState PostgresStore::photo_state(const std::string& sha256) {
  std::lock_guard lock(mutex_);
  PhotoState st;
  read([&](Conn& c) {
    st = PhotoState{};
    const auto p =
        c.exec("SELECT path, error FROM photos WHERE sha256 = $1", Params().text(sha256));
    if (PQntuples(p.get()) == 0) return;
    st.known = true;
    st.path = Conn::text(p, 0, 0);
    if (!Conn::is_null(p, 0, 1)) st.error = Conn::text(p, 0, 1);
    const auto r = c.exec("SELECT " + sql::model_run_columns(version_) +
                              " FROM results WHERE sha256 = $1 ORDER BY seq",
                          Params().text(sha256));
    for (int i = 0; i < PQntuples(r.get()); ++i) out_model_run(st.models_done, r, i);
  });
  return st;
}

int PostgresStore::prune_missing_paths(const std::vector<std::filesystem::path>& roots) {
  std::vector<std::string> gone;
  {
    std::lock_guard lock(mutex_);
    read([&](Conn& c) {
      gone.clear();
      for (const auto& root : roots) {
        std::string r = root.string();
        if (r.empty()) continue;
        const std::string prefix = r.back() == '/' ? r : r + "/";
        // Byte-wise prefix (left() on text compares characters; a LIKE pattern would need
        // escaping).
        const auto rows =
            c.exec("SELECT path FROM paths WHERE path = $1 OR left(path, length($2)) = $2",
                   Params().text(r).text(prefix));
        for (int i = 0; i < PQntuples(rows.get()); ++i) {
          const std::string p = Conn::text(rows, i, 0);
          std::error_code ec;
          if (!std::filesystem::exists(p, ec) && !ec) gone.push_back(p);
        }
      }
    });
  }
  if (gone.empty()) return 0;
  std::lock_guard lock(mutex_);
  transaction([&](Conn& c) {
    for (const auto& p : gone) c.exec("DELETE FROM paths WHERE path = $1", Params().text(p));
  });
  return static_cast<int>(gone.size());
}

// Byte order, as SQLite's BINARY collation: the same survey lists the same way on both.
std::vector<PhotoRecord> PostgresStore::photos() {
  std::lock_guard lock(mutex_);
  std::vector<PhotoRecord> out;
  read([&](Conn& c) {
    out.clear();
    const auto& t = columns::photos();
    const auto r = c.exec("SELECT " + select_list(t, version_) +
                          " FROM photos ORDER BY path COLLATE \"C\", sha256");
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(Conn::read_row(r, i, t).record);
  });
  return out;
}

std::vector<ResultRecord> PostgresStore::results() {
  std::lock_guard lock(mutex_);
  std::vector<ResultRecord> out;
  read([&](Conn& c) {
    out.clear();
    const auto& t = columns::results();
    const auto r = c.exec("SELECT " + select_list(t, version_, "r.") +
                          " FROM results r JOIN photos p ON p.sha256 = r.sha256 "
                          "ORDER BY p.path COLLATE \"C\", r.sha256, r.seq");
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(Conn::read_row(r, i, t));
  });
  return out;
}

std::vector<ModelKey> PostgresStore::models() {
  std::lock_guard lock(mutex_);
  std::vector<ModelKey> out;
  read([&](Conn& c) {
    out.clear();
    const auto r = c.exec("SELECT " + sql::model_run_columns(version_) +
                          " FROM results GROUP BY 1, 2, 3, 4 ORDER BY min(seq)");
    for (int i = 0; i < PQntuples(r.get()); ++i) out_model_run(out, r, i);
  });
  return out;
}

MergeCounts PostgresStore::merge_from(const std::filesystem::path& source) {
  return merge_survey(*this, source.string());
}

SurveyRows PostgresStore::rows() {
  SurveyRows out;
  out.results = results();
  std::lock_guard lock(mutex_);
  read([&](Conn& c) {
    out.photos.clear();
    out.paths.clear();
    out.runs.clear();
    auto read_all = [&](const auto& table, const std::string& order, auto& into) {
      const auto r = c.exec("SELECT " + select_list(table, version_) + " FROM " +
                            std::string(table.name) + " ORDER BY " + order);
      for (int i = 0; i < PQntuples(r.get()); ++i) into.push_back(Conn::read_row(r, i, table));
    };
    read_all(columns::photos(), "path COLLATE \"C\", sha256", out.photos);
    read_all(columns::paths(), "path COLLATE \"C\"", out.paths);
    read_all(columns::runs(), "id", out.runs);
  });
  return out;
}

MergeCounts PostgresStore::merge_rows(const SurveyRows& rows, const std::string& source) {
  check_survey_rows(rows, source);
  std::lock_guard lock(mutex_);
  MergeCounts counts;
  transaction([&](Conn& c) {
    counts = sql::merge_counted(
        rows,
        [&](const char* table) {
          return Conn::i64(c.exec(std::string("SELECT count(*) FROM ") + table), 0, 0);
        },
        [&](const auto& table, const auto& list) {
          const std::string row_sql = sql::merge_row(table, param);
          const std::string earliest = sql::keep_earliest_row(table, param);
          for (const auto& row : list) {
            Params p;
            p.row(table, row);
            c.exec(row_sql, p);
            if (!earliest.empty()) c.exec(earliest, p);
          }
        });
  });
  return counts;
}

std::int64_t PostgresStore::begin_run(const std::string& args_json) {
  std::lock_guard lock(mutex_);
  std::int64_t id = 0;
  transaction([&](Conn& c) {
    const auto r = c.exec(
        "INSERT INTO runs (started_at, status, args) VALUES ($1, 'running', $2) RETURNING id",
        Params().text(utc_now_iso()).text(args_json));
    id = Conn::i64(r, 0, 0);
  });
  return id;
}

void PostgresStore::end_run(std::int64_t run_id, const std::string& status,
                            const std::string& summary_json) {
  std::lock_guard lock(mutex_);
  transaction([&](Conn& c) {
    c.exec("UPDATE runs SET finished_at = $2, status = $3, summary = $4 WHERE id = $1",
           Params().integer(run_id).text(utc_now_iso()).text(status).text(summary_json));
  });
}

// --- Work queue ---

std::int64_t PostgresStore::enqueue(const std::vector<QueueItem>& items) {
  std::lock_guard lock(mutex_);
  std::int64_t added = 0;
  std::vector<const QueueItem*> sorted;
  for (const auto& i : items) sorted.push_back(&i);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->path < b->path; });
  transaction([&](Conn& c) {
    added = 0;
    for (const auto* i : sorted) {
      const auto r = c.exec(
          "INSERT INTO queue (path, size, mtime_ns) VALUES ($1, $2, $3) "
          "ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
          "state = 'pending', attempts = 0, error = NULL, lease_owner = NULL, lease_until = NULL "
          "WHERE queue.state IN ('done', 'failed') AND (queue.size <> excluded.size OR "
          "queue.mtime_ns <> excluded.mtime_ns)",
          Params().text(i->path).integer(i->size).integer(i->mtime_ns));
      added += c.changed(r);
    }
  });
  return added;
}

std::vector<QueueItem> PostgresStore::claim(int count, std::chrono::seconds lease) {
  std::lock_guard lock(mutex_);
  std::vector<QueueItem> out;
  transaction([&](Conn& c) {
    out.clear();
    c.exec(
        "INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3) "
        "ON CONFLICT (id) DO UPDATE SET last_seen = now()",
        Params().text(worker_).text(host_name()).integer(::getpid()));
    // What this worker still holds is still being worked on: a slow batch keeps its lease.
    c.exec(
        "UPDATE queue SET lease_until = now() + make_interval(secs => $2) "
        "WHERE lease_owner = $1 AND state = 'leased'",
        Params().text(worker_).add(static_cast<double>(lease.count()), columns::Type::kReal));
    // Another worker's lease that ran out is taken over; this worker's own are still its work in
    // flight (a live worker renews them with every claim), so it never takes a photo twice.
    const auto r = c.exec(
        "UPDATE queue q SET state = 'leased', lease_owner = $1, "
        "lease_until = now() + make_interval(secs => $2), attempts = q.attempts + 1 "
        "FROM (SELECT path FROM queue WHERE state = 'pending' OR (state = 'leased' AND "
        "lease_until < now() AND lease_owner <> $1) ORDER BY path LIMIT $3 "
        "FOR UPDATE SKIP LOCKED) w "
        "WHERE q.path = w.path RETURNING q.path, q.size, q.mtime_ns",
        Params()
            .text(worker_)
            .add(static_cast<double>(lease.count()), columns::Type::kReal)
            .integer(count));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      out.push_back({Conn::text(r, i, 0), Conn::i64(r, i, 1), Conn::i64(r, i, 2)});
    }
  });
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

void PostgresStore::finish(const std::vector<std::string>& paths,
                           const std::optional<std::string>& error) {
  if (paths.empty()) return;
  std::lock_guard lock(mutex_);
  transaction([&](Conn& c) {
    for (const auto& p : paths) {
      if (error) {
        // Failed: pending again for another try, failed for good after three.
        c.exec(
            "UPDATE queue SET state = CASE WHEN attempts >= 3 THEN 'failed' ELSE 'pending' END, "
            "error = $3, lease_owner = NULL, lease_until = NULL "
            "WHERE path = $1 AND lease_owner = $2 AND state = 'leased'",
            Params().text(p).text(worker_).text(*error));
      } else {
        c.exec(
            "UPDATE queue SET state = 'done', done_at = now(), lease_owner = NULL, "
            "lease_until = NULL WHERE path = $1 AND lease_owner = $2 AND state = 'leased'",
            Params().text(p).text(worker_));
      }
    }
  });
}

QueueStatus PostgresStore::queue_status() {
  std::lock_guard lock(mutex_);
  QueueStatus s;
  read([&](Conn& c) {
    const auto r = c.exec(
        "SELECT count(*) FILTER (WHERE state = 'pending' OR (state = 'leased' AND lease_until < "
        "now())), count(*) FILTER (WHERE state = 'leased' AND lease_until >= now()), "
        "count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE state = 'failed') "
        "FROM queue");
    s.pending = Conn::i64(r, 0, 0);
    s.leased = Conn::i64(r, 0, 1);
    s.done = Conn::i64(r, 0, 2);
    s.failed = Conn::i64(r, 0, 3);
    const auto w = c.exec(
        "SELECT count(*), count(*) FILTER (WHERE last_seen > now() - interval '1 minute') "
        "FROM workers");
    s.workers = Conn::i64(w, 0, 0);
    s.workers_live = Conn::i64(w, 0, 1);
  });
  return s;
}

bool PostgresStore::others_working() {
  std::lock_guard lock(mutex_);
  bool busy = false;
  read([&](Conn& c) {
    busy = PQntuples(c.exec("SELECT 1 FROM queue WHERE state = 'leased' AND lease_until >= now() "
                            "AND lease_owner <> $1 LIMIT 1",
                            Params().text(worker_))
                         .get()) > 0;
  });
  return busy;
}

void PostgresStore::replace_bins(const std::vector<Bin>& bins) {
  std::lock_guard lock(mutex_);
  const std::string now = utc_now_iso();
  transaction([&](Conn& c) {
    c.exec("DELETE FROM bins");  // sight lines go with them (ON DELETE CASCADE)
    for (const auto& b : bins) {
      c.exec(
          "INSERT INTO bins (id, lat, lon, method, spread_m, best_score, photos, located_at) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          Params()
              .integer(b.id)
              .add(b.lat, columns::Type::kReal)
              .add(b.lon, columns::Type::kReal)
              .text(b.method)
              .add(b.spread_m, columns::Type::kReal)
              .add(b.best_score, columns::Type::kReal)
              .integer(static_cast<std::int64_t>(b.sights.size()))
              .text(now));
      for (const auto& s : b.sights) {
        c.exec(
            "INSERT INTO sight_lines (bin, sha256, geom) VALUES ($1, $2, "
            "ST_SetSRID(ST_MakeLine(ST_MakePoint($4, $3), ST_MakePoint($6, $5)), 4326))",
            Params()
                .integer(b.id)
                .text(s.sha256)
                .add(s.lat, columns::Type::kReal)
                .add(s.lon, columns::Type::kReal)
                .add(b.lat, columns::Type::kReal)
                .add(b.lon, columns::Type::kReal));
      }
    }
  });
}

}  // namespace binscan

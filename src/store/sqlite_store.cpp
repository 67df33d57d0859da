#include "store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <utility>

#include "store/columns.h"
#include "store/sql_gen.h"
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

  Stmt& bind(int i, const columns::Value& v) {
    if (const auto* t = std::get_if<std::string>(&v)) return bind(i, *t);
    if (const auto* n = std::get_if<std::int64_t>(&v)) return bind(i, *n);
    if (const auto* d = std::get_if<double>(&v)) return bind(i, *d);
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

  int parameters() const { return sqlite3_bind_parameter_count(stmt_); }
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
  // Column c read as the declared type says (NULL as monostate).
  columns::Value value(int c, columns::Type type) const {
    if (is_null(c)) return {};
    switch (type) {
      case columns::Type::kText:
        return text(c);
      case columns::Type::kInteger:
        return i64(c);
      case columns::Type::kReal:
        return f64(c);
    }
    return {};
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

// --- SQL generated from the column lists (store/columns.h) ---

using sql::column_list;
using sql::join;
using sql::names;
using sql::on_conflict;
using sql::select_list;

// SQLite spells parameter i as ?i.
std::string param(int i, columns::Type) { return "?" + std::to_string(i); }
template <typename Row>
std::string insert_row(const columns::Table<Row>& t) {
  return sql::insert_row(t, param);
}

std::string_view type_name(columns::Type type) {
  switch (type) {
    case columns::Type::kText:
      return "TEXT";
    case columns::Type::kInteger:
      return "INTEGER";
    case columns::Type::kReal:
      return "REAL";
  }
  return "TEXT";
}

template <typename Row>
std::string declaration(const columns::Column<Row>& c) {
  std::string d(type_name(c.type));
  if (c.key == columns::Key::kPrimary) {
    d += " PRIMARY KEY";
  } else if (!c.nullable) {
    d += " NOT NULL";
  }
  if (c.key == columns::Key::kPhotoSha256)
    d += " REFERENCES " + std::string(columns::photos().name) + "(sha256)";
  return d;
}

// The alignment of the column declarations binscan has always written, so a new file's
// sqlite_master reads exactly as before.
std::size_t name_width(std::string_view table) {
  if (table == "paths") return 8;
  if (table == "results") return 15;
  return 11;
}

template <typename Row>
bool is_primary_key(const columns::Table<Row>& t, std::span<const std::string_view> cols) {
  if (cols.size() != 1) return false;
  for (const auto& c : t.columns) {
    if (c.name == cols[0]) return c.key == columns::Key::kPrimary;
  }
  return false;
}

template <typename Row>
std::string create_table(const columns::Table<Row>& t) {
  std::vector<std::string> lines;
  for (const auto& c : t.columns) {
    std::string name(c.name);
    name.resize(std::max(name.size(), name_width(t.name)), ' ');
    lines.push_back("  " + name + " " + declaration(c));
  }
  if (!t.unique.empty() && !is_primary_key(t, t.unique)) {
    lines.push_back("  UNIQUE (" + join(names(t.unique), ", ") + ")");
  }
  std::string sql =
      "CREATE TABLE IF NOT EXISTS " + std::string(t.name) + " (\n" + join(lines, ",\n") + "\n);\n";
  for (const auto& ix : columns::indexes()) {
    if (ix.table != t.name) continue;
    sql += "CREATE INDEX IF NOT EXISTS " + std::string(ix.name) + " ON " + std::string(ix.table) +
           "(" + std::string(ix.column) + ");\n";
  }
  return sql;
}

std::string create_schema() {
  return "\n" + create_table(columns::photos()) + create_table(columns::paths()) +
         create_table(columns::results()) + create_table(columns::runs());
}

// Brings a table whose key changed since schema `from` to the current one. SQLite cannot alter a
// UNIQUE constraint, so the table is made anew: the old one renamed, a fresh one created, every
// row copied in its order (rowid order is the models' order) with the new columns' "none".
template <typename Row>
std::string rebuild_table(const columns::Table<Row>& t, int from) {
  const std::string name(t.name), old = name + "_before_v" + std::to_string(t.unique_since);
  return "ALTER TABLE " + name + " RENAME TO " + old + ";\n" + create_table(t) + "INSERT INTO " +
         name + " (" + column_list(t) + ") SELECT " + select_list(t, from) + " FROM " + old +
         " ORDER BY rowid;\nDROP TABLE " + old + ";\n";
}

// ALTER TABLE statements bringing a survey of schema `from` to the current one.
template <typename Row>
std::string upgrade_table(const columns::Table<Row>& t, int from) {
  if (from < t.unique_since) return rebuild_table(t, from);
  std::string sql;
  for (const auto& c : t.columns) {
    if (c.since_schema > from) {
      sql += "ALTER TABLE " + std::string(t.name) + " ADD COLUMN " + std::string(c.name) + " " +
             declaration(c) + ";\n";
    }
  }
  return sql;
}

std::string upgrade_schema(int from) {
  return upgrade_table(columns::photos(), from) + upgrade_table(columns::paths(), from) +
         upgrade_table(columns::results(), from) + upgrade_table(columns::runs(), from);
}

// The names the schema gives to tables and indexes (anything else in a file is not ours).
std::string schema_object_names() {
  std::vector<std::string> all;
  for (const auto n : {columns::photos().name, columns::paths().name, columns::results().name,
                       columns::runs().name}) {
    all.push_back("'" + std::string(n) + "'");
  }
  for (const auto& ix : columns::indexes()) all.push_back("'" + std::string(ix.name) + "'");
  return "(" + join(all, ",") + ")";
}

template <typename Row>
void bind_row(Stmt& s, const columns::Table<Row>& t, const Row& row) {
  // A statement may use only the first columns' parameters (sql::keep_earliest_row).
  const int n = s.parameters();
  int i = 1;
  for (const auto& c : t.columns) {
    if (i > n) break;
    s.bind(i++, c.get(row));
  }
}

template <typename Row>
Row read_row(const Stmt& s, const columns::Table<Row>& t) {
  Row row;
  int i = 0;
  for (const auto& c : t.columns) {
    c.set(row, s.value(i, c.type));
    ++i;
  }
  return row;
}

// Copies the rows of the attached survey "src" (of schema `source_version`) into this one, by
// column name: what the source lacks arrives as NULL. A row already here is refreshed when the
// source's is newer (tables with refreshed columns), or kept (the others); tables without a key
// take a row unless one with the same identity is here.
template <typename Row>
std::string merge_table(const columns::Table<Row>& t, int source_version) {
  const std::string name(t.name);
  if (t.unique.empty()) {
    std::vector<std::string> cols, match;
    for (const auto& c : t.columns) {
      if (c.key != columns::Key::kPrimary) {
        cols.push_back(c.since_schema <= source_version ? "s." + std::string(c.name) : "NULL");
      }
    }
    std::vector<std::string> targets;
    for (const auto& c : t.columns) {
      if (c.key != columns::Key::kPrimary) targets.emplace_back(c.name);
    }
    for (const auto n : t.identity) {
      match.push_back("m." + std::string(n) + " = s." + std::string(n));
    }
    std::string sql = "INSERT INTO " + name + " (" + join(targets, ", ") + ") SELECT " +
                      join(cols, ", ") + " FROM src." + name + " AS s";
    if (!match.empty()) {
      sql +=
          " WHERE NOT EXISTS (SELECT 1 FROM " + name + " AS m WHERE " + join(match, " AND ") + ")";
    }
    for (const auto& c : t.columns) {
      if (c.key == columns::Key::kPrimary) sql += " ORDER BY s." + std::string(c.name);
    }
    return sql + ";\n";
  }
  // "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
  std::string sql = "INSERT INTO " + name + " (" + column_list(t) + ") SELECT " +
                    select_list(t, source_version) + " FROM src." + name + " WHERE true" +
                    on_conflict(t);
  if (!t.refreshed.empty() && !t.newer_by.empty()) {
    const std::string by(t.newer_by);
    sql += " WHERE excluded." + by + " > " + name + "." + by;
  }
  return sql + ";\n";
}

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

std::string sqlite_file_uri(const std::filesystem::path& path, std::string_view query) {
  // RFC 3986 percent-encoding of everything but unreserved characters and '/', so '?', '#',
  // '%' and any byte (a file name need not be UTF-8) stay part of the path.
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string uri = "file:";
  for (const char c : path.string()) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      uri += c;
    } else {
      uri += '%';
      uri += kHex[u >> 4];
      uri += kHex[u & 15];
    }
  }
  if (!query.empty()) uri += "?" + std::string(query);
  return uri;
}

bool is_survey_sha256(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

namespace {
bool has_control_byte(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}
// Printable ASCII without space and the characters that would end or start markup.
bool is_plain_token(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c > ' ' && c < 0x7f && std::string_view("\"'<>\\`").find(c) == std::string_view::npos;
  });
}
}  // namespace

bool is_survey_revision(std::string_view s) {
  return s.size() <= 256 && !has_control_byte(s) && (s.empty() || is_plain_token(s));
}

bool is_survey_path(std::string_view s) {
  return !s.empty() && s.size() <= 4096 && s.front() == '/' && !has_control_byte(s);
}

bool is_survey_model_id(std::string_view s) {
  if (s.empty() || s.size() > 4096) return false;
  if (s.front() == '/') return is_survey_path(s);  // a local checkpoint directory
  if (s.starts_with("http://") || s.starts_with("https://"))
    return is_plain_token(s);  // --endpoint
  // A Hub repository id, "name" or "org/name".
  const auto slash = s.find('/');
  if (slash != std::string_view::npos && s.find('/', slash + 1) != std::string_view::npos)
    return false;
  auto name_ok = [](std::string_view n) {
    return !n.empty() && n.size() <= 96 && std::isalnum(static_cast<unsigned char>(n.front())) &&
           std::all_of(n.begin(), n.end(), [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
           });
  };
  if (slash == std::string_view::npos) return name_ok(s);
  return name_ok(s.substr(0, slash)) && name_ok(s.substr(slash + 1));
}

SqliteStore::SqliteStore(const std::filesystem::path& path, Mode mode) : path_(path) {
  if (mode == Mode::kReadOnly && !std::filesystem::exists(path)) {
    throw Error(ErrorKind::kIo, path.string(),
                "no such database (run 'binscan scan' first, or give --db FILE)");
  }
  // No SQLite mutex: mutex_ is the one lock around the connection. Always a URI, so a read-only
  // open can say mode=ro / immutable=1 and merge can ATTACH its source the same way.
  auto open = [&](const std::string& uri, int flags) {
    if (sqlite3_open_v2(uri.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                        nullptr) != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error(ErrorKind::kIo, path.string(), "cannot open database: " + msg);
    }
  };
  if (mode == Mode::kReadOnly) {
    open(sqlite_file_uri(path, "mode=ro"), SQLITE_OPEN_READONLY);
    // A WAL survey on a read-only mount, or another user's file, cannot get its -shm index
    // ("attempt to write a readonly database" / "unable to open"): read it as immutable then,
    // as a backup must stay readable. Immutable ignores a -wal beside it (binscan checkpoints
    // it away when the last writer closes).
    const int rc =
        sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr) & 0xff;
    if (rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN || rc == SQLITE_IOERR) {
      sqlite3_close(db_);
      db_ = nullptr;
      std::error_code ec;
      const auto wal = std::filesystem::path(path.string() + "-wal");
      if (std::filesystem::exists(wal, ec) && std::filesystem::file_size(wal, ec) > 0 && !ec) {
        // Immutable would silently skip the transactions still in the -wal file.
        throw Error(ErrorKind::kIo, path.string(),
                    "cannot open read-only: its write-ahead log " + wal.filename().string() +
                        " holds changes not yet in the database and this location is not "
                        "writable; copy the survey (with its -wal file) somewhere writable");
      }
      open(sqlite_file_uri(path, "mode=ro&immutable=1"), SQLITE_OPEN_READONLY);
      immutable_ = true;
    }
  } else {
    open(sqlite_file_uri(path, "mode=rwc"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
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

SqliteStore::~SqliteStore() {
  if (db_) sqlite3_close(db_);
}

std::vector<std::filesystem::path> SqliteStore::own_files() const {
  const std::string db = path_.string();
  return {path_, db + "-wal", db + "-shm", db + "-journal"};
}

void SqliteStore::in_transaction(const std::function<void()>& body) {
  exec("BEGIN IMMEDIATE");
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void SqliteStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    const bool not_db = sqlite3_errcode(db_) == SQLITE_NOTADB;
    throw Error(not_db ? ErrorKind::kFormat : ErrorKind::kIo, path_.string(),
                not_db ? "not a binscan database (not SQLite)" : "database error: " + msg);
  }
}

void SqliteStore::migrate() {
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
    Stmt s(
        db_,
        ("SELECT count(*) FROM sqlite_master WHERE name NOT IN " + schema_object_names()).c_str(),
        path_);
    if (s.step() && s.i64(0) > 0) {
      throw Error(ErrorKind::kFormat, path_.string(),
                  "not a binscan database (it has other tables); give another --db FILE");
    }
  }
  in_transaction([&] {
    // An older survey gains the columns added since, appended as a fresh schema has them (last).
    if (version >= 1) exec(upgrade_schema(version));
    exec(create_schema());
    exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
  });
  version_ = kSchemaVersion;
}

std::vector<bool> SqliteStore::commit(const CommitBatch& batch) {
  std::vector<bool> stored;
  if (batch.empty()) return stored;
  std::lock_guard lock(mutex_);
  const std::string now = utc_now_iso();
  in_transaction([&] {
    stored.clear();  // a retried transaction starts over
    {
      const auto& table = columns::photos();
      Stmt s(db_, insert_row(table).c_str(), path_);
      for (const auto& p : batch.photos) {
        bind_row(s, table, columns::PhotoRow{p, now, now});
        s.run();
      }
    }
    {
      const auto& table = columns::paths();
      Stmt s(db_, insert_row(table).c_str(), path_);
      for (const auto& p : batch.paths) {
        bind_row(s, table, columns::PathRow{p, now});
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
      const auto& table = columns::results();
      Stmt s(db_, insert_row(table).c_str(), path_);
      for (const auto& r : batch.results) {
        if (r.created_at.empty()) {
          columns::ResultRow row = r;
          row.created_at = now;
          bind_row(s, table, row);
        } else {
          bind_row(s, table, r);
        }
        s.run();
        stored.push_back(sqlite3_changes(db_) > 0);
      }
    }
  });
  return stored;
}

void SqliteStore::check_foreign_rows() const {
  // A survey from elsewhere may hold anything: refuse, before merging a single row, the first
  // value binscan would never have written in a column it relies on (keys, paths, models).
  auto refuse = [&](const std::string& where, const std::string& value, const char* want) {
    std::string shown = value.size() > 80 ? value.substr(0, 80) + "..." : value;
    throw Error(
        ErrorKind::kFormat, path_.string(),
        "refusing to merge: " + where + " is '" + shown + "', not " + want + " as binscan writes");
  };
  auto each = [&](const std::string& sql, const auto& per_row) {
    Stmt s(db_, sql.c_str(), path_);
    while (s.step()) per_row(s);
  };
  const auto where = [](const char* table, const char* column, std::int64_t rowid) {
    return std::string(table) + "." + column + " (row " + std::to_string(rowid) + ")";
  };
  constexpr const char* kHash = "64 lowercase hex digits";
  constexpr const char* kPath = "an absolute path without control characters";
  each("SELECT rowid, sha256, path, typeof(sha256), typeof(path) FROM photos", [&](Stmt& s) {
    if (s.text(3) != "text" || !is_survey_sha256(s.text(1)))
      refuse(where("photos", "sha256", s.i64(0)), s.text(1), kHash);
    if (s.text(4) != "text" || !is_survey_path(s.text(2)))
      refuse(where("photos", "path", s.i64(0)), s.text(2), kPath);
  });
  each("SELECT rowid, sha256, path, typeof(sha256), typeof(path) FROM paths", [&](Stmt& s) {
    if (s.text(3) != "text" || !is_survey_sha256(s.text(1)))
      refuse(where("paths", "sha256", s.i64(0)), s.text(1), kHash);
    if (s.text(4) != "text" || !is_survey_path(s.text(2)))
      refuse(where("paths", "path", s.i64(0)), s.text(2), kPath);
  });
  each("SELECT rowid, sha256, model_id, revision, typeof(sha256), typeof(model_id) FROM results",
       [&](Stmt& s) {
         if (s.text(4) != "text" || !is_survey_sha256(s.text(1)))
           refuse(where("results", "sha256", s.i64(0)), s.text(1), kHash);
         if (s.text(5) != "text" || !is_survey_model_id(s.text(2)))
           refuse(where("results", "model_id", s.i64(0)), s.text(2),
                  "a Hub id (org/name), an absolute model directory or an http(s) URL");
         if (!is_survey_revision(s.text(3)))
           refuse(where("results", "revision", s.i64(0)), s.text(3),
                  "a commit, branch or sha256: digest");
       });
}

MergeCounts SqliteStore::merge_from(const std::filesystem::path& source) {
  int source_version = 0;
  bool source_immutable = false;
  {
    // A readable binscan database of a schema this binscan knows, or a clear error naming it.
    const SqliteStore check(source, Mode::kReadOnly);
    source_version = check.schema_version();
    source_immutable = check.immutable_;
    check.check_foreign_rows();
  }
  std::error_code ec;
  if (std::filesystem::equivalent(source, path_, ec)) {
    throw Error(ErrorKind::kConfig, source.string(), "is the database being merged into");
  }
  std::lock_guard lock(mutex_);
  auto count = [&](const std::string& sql) {
    Stmt s(db_, sql.c_str(), path_);
    return s.step() ? s.i64(0) : 0;
  };
  {
    Stmt attach(db_, "ATTACH DATABASE ?1 AS src", path_);
    attach.bind(1, sqlite_file_uri(source, source_immutable ? "mode=ro&immutable=1" : "mode=ro"));
    attach.run();
  }
  const std::string photos(columns::photos().name), results(columns::results().name),
      runs(columns::runs().name);
  MergeCounts counts;
  const auto photos_before = count("SELECT count(*) FROM " + photos);
  const auto results_before = count("SELECT count(*) FROM " + results);
  const auto runs_before = count("SELECT count(*) FROM " + runs);
  const auto results_offered = count("SELECT count(*) FROM src." + results);
  try {
    in_transaction([&] {
      std::string sql = merge_table(columns::photos(), source_version);
      if (const auto earliest = std::string(columns::photos().keep_earliest); !earliest.empty()) {
        // The key of photos is its sha256: the earlier first sighting of the two is kept.
        sql += "UPDATE " + photos + " SET " + earliest + " = s." + earliest + " FROM src." +
               photos + " AS s WHERE s.sha256 = " + photos + ".sha256 AND s." + earliest + " < " +
               photos + "." + earliest + ";\n";
      }
      sql += merge_table(columns::paths(), source_version);
      sql += merge_table(columns::results(), source_version);
      sql += merge_table(columns::runs(), source_version);
      exec(sql);
    });
  } catch (...) {
    sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    throw;
  }
  exec("DETACH DATABASE src");
  counts.photos = count("SELECT count(*) FROM " + photos) - photos_before;
  counts.results = count("SELECT count(*) FROM " + results) - results_before;
  counts.results_known = results_offered - counts.results;
  counts.runs = count("SELECT count(*) FROM " + runs) - runs_before;
  return counts;
}

bool SqliteStore::set_occlusion(const std::string& sha256, const ModelKey& model,
                                const std::string& occlusion_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "UPDATE results SET occlusion = ?1 WHERE sha256 = ?2 AND model_id = ?3 AND revision = ?4 "
         "AND candidate_labels = ?5 AND hypothesis_template = ?6",
         path_);
  s.bind(1, occlusion_json).bind(2, sha256).bind(3, model.id).bind(4, model.revision);
  s.bind(5, model.candidate_labels).bind(6, model.hypothesis_template);
  s.step();
  return sqlite3_changes(db_) > 0;
}

std::optional<PathRecord> SqliteStore::find_path(const std::string& path) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "SELECT sha256, size, mtime_ns FROM paths WHERE path = ?1", path_);
  s.bind(1, path);
  if (!s.step()) return std::nullopt;
  return PathRecord{path, s.text(0), s.i64(1), s.i64(2)};
}

PhotoState SqliteStore::photo_state(const std::string& sha256) {
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
  Stmt s(db_,
         ("SELECT " + sql::model_run_columns(version_) + " FROM results WHERE sha256 = ?1").c_str(),
         path_);
  s.bind(1, sha256);
  while (s.step()) st.models_done.push_back({s.text(0), s.text(1), s.text(2), s.text(3)});
  return st;
}

int SqliteStore::prune_missing_paths(const std::vector<std::filesystem::path>& roots) {
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

std::vector<PhotoRecord> SqliteStore::photos() {
  std::lock_guard lock(mutex_);
  const auto& table = columns::photos();
  Stmt s(db_,
         ("SELECT " + select_list(table, version_) + " FROM " + std::string(table.name) +
          " ORDER BY path, sha256")
             .c_str(),
         path_);
  std::vector<PhotoRecord> out;
  while (s.step()) out.push_back(std::move(read_row(s, table).record));
  return out;
}

std::vector<ResultRecord> SqliteStore::results() {
  std::lock_guard lock(mutex_);
  const auto& table = columns::results();
  Stmt s(db_,
         ("SELECT " + select_list(table, version_, "r.") + " FROM " + std::string(table.name) +
          " r JOIN photos p ON p.sha256 = r.sha256 ORDER BY p.path, r.sha256, r.rowid")
             .c_str(),
         path_);
  std::vector<ResultRecord> out;
  while (s.step()) out.push_back(read_row(s, table));
  return out;
}

std::vector<ModelKey> SqliteStore::models() {
  std::lock_guard lock(mutex_);
  const std::string cols = sql::model_run_columns(version_);
  Stmt s(db_, ("SELECT " + cols + " FROM results GROUP BY 1, 2, 3, 4 ORDER BY min(rowid)").c_str(),
         path_);
  std::vector<ModelKey> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3)});
  return out;
}

std::int64_t SqliteStore::begin_run(const std::string& args_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "INSERT INTO runs (started_at, status, args) VALUES (?1, 'running', ?2)", path_);
  s.bind(1, utc_now_iso()).bind(2, args_json);
  s.run();
  return sqlite3_last_insert_rowid(db_);
}

void SqliteStore::end_run(std::int64_t run_id, const std::string& status,
                          const std::string& summary_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE runs SET finished_at = ?2, status = ?3, summary = ?4 WHERE id = ?1", path_);
  s.bind(1, run_id).bind(2, utc_now_iso()).bind(3, status).bind(4, summary_json);
  s.run();
}

SurveyRows SqliteStore::rows() {
  SurveyRows out;
  out.results = results();
  std::lock_guard lock(mutex_);
  auto read_all = [&](const auto& table, const std::string& order, auto& into) {
    Stmt s(db_,
           ("SELECT " + select_list(table, version_) + " FROM " + std::string(table.name) +
            " ORDER BY " + order)
               .c_str(),
           path_);
    while (s.step()) into.push_back(read_row(s, table));
  };
  read_all(columns::photos(), "path, sha256", out.photos);
  read_all(columns::paths(), "path", out.paths);
  read_all(columns::runs(), "id", out.runs);
  return out;
}

MergeCounts SqliteStore::merge_rows(const SurveyRows& rows, const std::string& source) {
  check_survey_rows(rows, source);
  std::lock_guard lock(mutex_);
  MergeCounts counts;
  in_transaction([&] {
    counts = sql::merge_counted(
        rows, [&](const char* table) { return count_rows(table); },
        [&](const auto& table, const auto& list) {
          Stmt s(db_, sql::merge_row(table, param).c_str(), path_);
          const std::string earliest = sql::keep_earliest_row(table, param);
          std::optional<Stmt> first;
          if (!earliest.empty()) first.emplace(db_, earliest.c_str(), path_);
          for (const auto& row : list) {
            bind_row(s, table, row);
            s.run();
            if (first) {
              bind_row(*first, table, row);
              first->run();
            }
          }
        });
  });
  return counts;
}

std::int64_t SqliteStore::count_rows(const std::string& table) {
  Stmt s(db_, ("SELECT count(*) FROM " + table).c_str(), path_);
  return s.step() ? s.i64(0) : 0;
}

}  // namespace binscan

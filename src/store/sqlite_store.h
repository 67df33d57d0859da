// The SQLite backend of Store: one file in WAL mode (readers never block the writer; a crash
// leaves the last committed state). All SQL, and everything SQLite-specific, lives in
// sqlite_store.cpp, generated from the column lists of store/columns.h.
//
// One lock: the connection is opened without SQLite's own mutex (SQLITE_OPEN_NOMUTEX) and every
// use of it holds mutex_, which also keeps a transaction's statements together when several
// threads share the store.
#pragma once

#include <filesystem>
#include <mutex>

#include "store/store.h"

struct sqlite3;

namespace binscan {

class SqliteStore final : public Store {
 public:
  // Creates the file and schema when missing (kReadWrite). Throws Error(kIo) when it cannot be
  // opened, Error(kUnsupported) when written by a newer binscan, Error(kFormat) when not a
  // binscan database.
  explicit SqliteStore(const std::filesystem::path& path, Mode mode = Mode::kReadWrite);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int schema_version() const override { return version_; }
  std::vector<std::filesystem::path> own_files() const override;

  void commit(const CommitBatch& batch) override;
  std::optional<PathRecord> find_path(const std::string& path) override;
  PhotoState photo_state(const std::string& sha256) override;
  int prune_missing_paths(const std::vector<std::filesystem::path>& roots) override;
  std::vector<PhotoRecord> photos() override;
  std::vector<ResultRecord> results() override;
  std::vector<ModelKey> models() override;
  MergeCounts merge_from(const std::filesystem::path& source) override;
  std::int64_t begin_run(const std::string& args_json) override;
  void end_run(std::int64_t run_id, const std::string& status,
               const std::string& summary_json) override;

 private:
  void exec(const std::string& sql);
  // BEGIN IMMEDIATE, body, COMMIT; rolled back when body throws. The caller holds mutex_.
  void in_transaction(const std::function<void()>& body);
  void migrate();
  std::filesystem::path path_;
  int version_ = 0;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace binscan

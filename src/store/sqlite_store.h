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
#include <string>
#include <string_view>

#include "store/store.h"

struct sqlite3;

namespace binscan {

// The SQLite URI of `path` (file:..., percent-encoded, so any byte of a file name survives) with
// `query` such as "mode=ro" or "mode=ro&immutable=1".
std::string sqlite_file_uri(const std::filesystem::path& path, std::string_view query);

// What binscan writes, checked on every row `merge` takes from a survey made elsewhere:
bool is_survey_sha256(std::string_view s);    // 64 lowercase hex digits
bool is_survey_path(std::string_view s);      // absolute, at most 4096 bytes, no control byte
                                              // (any other byte: names need not be UTF-8)
bool is_survey_revision(std::string_view s);  // a commit, branch or "sha256:" digest: at most
                                              // 256 bytes of printable ASCII without spaces,
                                              // quotes or markup characters (or empty)
bool is_survey_model_id(std::string_view s);  // Hub id "org/name" or "name" ([A-Za-z0-9._-],
                                              // starting alphanumeric), an absolute model
                                              // directory, or an http(s) URL without spaces,
                                              // quotes or markup characters

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
  // True when a read-only open fell back to immutable=1 (WAL on a read-only mount, say).
  bool opened_immutable() const { return immutable_; }
  std::vector<std::filesystem::path> own_files() const override;

  std::vector<bool> commit(const CommitBatch& batch) override;
  bool set_occlusion(const std::string& sha256, const ModelKey& model,
                     const std::string& occlusion_json) override;
  std::optional<PathRecord> find_path(const std::string& path) override;
  PhotoState photo_state(const std::string& sha256) override;
  int prune_missing_paths(const std::vector<std::filesystem::path>& roots) override;
  std::vector<PhotoRecord> photos() override;
  std::vector<ResultRecord> results() override;
  std::vector<ModelKey> models() override;
  MergeCounts merge_from(const std::filesystem::path& source) override;
  SurveyRows rows() override;
  MergeCounts merge_rows(const SurveyRows& rows, const std::string& source) override;
  std::int64_t begin_run(const std::string& args_json) override;
  void end_run(std::int64_t run_id, const std::string& status,
               const std::string& summary_json) override;

 private:
  void exec(const std::string& sql);
  // BEGIN IMMEDIATE, body, COMMIT; rolled back when body throws. The caller holds mutex_.
  void in_transaction(const std::function<void()>& body);
  void migrate();
  // Error(kFormat) at the first key, path or model id binscan would not have written (merge).
  void check_foreign_rows() const;
  std::int64_t count_rows(const std::string& table);  // the caller holds mutex_
  std::filesystem::path path_;
  int version_ = 0;
  bool immutable_ = false;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace binscan

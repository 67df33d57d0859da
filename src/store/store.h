// The survey store — what this layer owns: keeping photos, paths, results and runs so re-runs skip
// finished work and analysis can read everything back. Store is the interface; SqliteStore
// (store/sqlite_store.h, a file) and PostgresStore (store/postgres_store.h, a postgresql:// URI,
// with PostGIS geometries and a work queue shared by many processes) are its backends, chosen by
// open_store from the --db string. The tables and their columns are declared once,
// backend-neutrally, in store/columns.h; SQL is generated from that list inside each backend. The
// scan (store/scan.h) runs photos into a store. May use: analysis, pipeline and everything below
// (never render, cli).
//
// The survey's contents (one SQLite file in WAL mode for SqliteStore): every photo seen, by content
// hash, and every model's result for it. Re-runs skip what is stored; each batch is one
// transaction, so an interruption (Ctrl-C, kill -9, power loss) loses at most the batch in flight
// and never leaves duplicate or half-written rows (UNIQUE(sha256, model_id, revision,
// candidate_labels, hypothesis_template) guards against duplicates).
//
// Tables (schema version kSchemaVersion):
//   photos  one row per distinct content: sha256 (hex), the path last seen, size, format, size in
//           pixels, EXIF time/GPS/bearing/camera, or the error when the file could not be decoded
//   paths   every path a photo was seen at, with size and mtime, so unchanged files are not
//           re-hashed and a renamed file is recognised by its hash
//   results one row per (photo, model id, model revision, candidate labels, hypothesis template):
//           top-k JSON, bin score/rank/verdict, threshold and bin labels used, time taken, when,
//           decode scale and precision
//   runs    one row per scan: start, end, status and the summary
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/survey.h"

namespace binscan {

struct PathRecord {
  std::string path;
  std::string sha256;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// One transaction's worth of writes.
struct CommitBatch {
  std::vector<PhotoRecord> photos;  // upserted (metadata refreshed, path set)
  std::vector<PathRecord> paths;    // upserted
  std::vector<std::pair<std::string, std::string>> relocations;  // (sha256, new path)
  std::vector<ResultRecord> results;  // inserted; an existing (photo, model) row is kept
  // Work-queue paths (PostgreSQL) this batch completes: marked done in the same transaction,
  // and only while this worker still holds their lease; the rows of a path whose lease was lost
  // (another worker took it over) are not written at all.
  std::vector<std::string> finished_paths;
  bool empty() const {
    return photos.empty() && paths.empty() && relocations.empty() && results.empty() &&
           finished_paths.empty();
  }
};

// What the store knows about one content hash.
struct PhotoState {
  bool known = false;
  std::optional<std::string> error;
  std::string path;
  std::vector<ModelKey> models_done;
};

// Rows as stored, with what the store adds to the records (timestamps, run ids): what moves
// between surveys of different backends (merge_survey).
struct RunRow {
  std::int64_t id = 0;
  std::string started_at;
  std::optional<std::string> finished_at;
  std::string status;
  std::string args;
  std::optional<std::string> summary;
};
struct PathRow {
  PathRecord record;
  std::string seen_at;
};
struct PhotoRow {
  PhotoRecord record;
  std::string first_seen, last_seen;
};
struct SurveyRows {
  std::vector<PhotoRow> photos;
  std::vector<PathRow> paths;
  std::vector<ResultRecord> results;  // results()' order
  std::vector<RunRow> runs;
};

// What merging one database into another added.
struct MergeCounts {
  std::int64_t photos = 0;         // photos new to the target
  std::int64_t results = 0;        // results new to the target
  std::int64_t results_known = 0;  // results the target already had (kept as they were)
  std::int64_t runs = 0;           // run records copied
};

// One photo path of a work queue.
struct QueueItem {
  std::string path;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// What a work queue holds.
struct QueueStatus {
  std::int64_t pending = 0;  // waiting (or leased with the lease run out)
  std::int64_t leased = 0;   // taken by a worker whose lease still runs
  std::int64_t done = 0;
  std::int64_t failed = 0;        // given up on after three failed attempts
  std::int64_t workers = 0;       // processes that ever took work
  std::int64_t workers_live = 0;  // ... seen within the last minute

  // "12 done, 3 pending, 4 leased, 0 failed; 2 workers seen (1 in the last minute)"
  std::string line() const;
  nlohmann::json to_json() const;
};

// Work shared by many processes (PostgreSQL): `scan` enqueues the photo paths it walks, every
// worker claims batches of them under a lease, and commits each batch's rows with the paths'
// "done" mark in one transaction (CommitBatch::finished_paths). A worker killed mid-batch loses
// only that batch: its lease runs out and another worker takes it.
class WorkQueue {
 public:
  virtual ~WorkQueue() = default;
  // Adds paths not queued yet as pending; a queued path whose file changed (size or mtime) is
  // pending again. Returns how many became pending.
  virtual std::int64_t enqueue(const std::vector<QueueItem>& items) = 0;
  // Takes up to `count` pending paths, or leased ones whose lease ran out, for `lease` (and
  // extends the lease of what this worker already holds). Concurrent workers never get the same
  // path.
  virtual std::vector<QueueItem> claim(int count, std::chrono::seconds lease) = 0;
  // Marks claimed paths done without rows to write, or failed (`error`): a failed path is
  // pending again, and failed for good after three attempts.
  virtual void finish(const std::vector<std::string>& paths,
                      const std::optional<std::string>& error) = 0;
  virtual QueueStatus queue_status() = 0;
  // True while another worker holds an unexpired lease (its photos may come back to the queue).
  virtual bool others_working() = 0;
};

class Store : public SurveyReader {
 public:
  // 2 added photos.focal_35mm; 3 added results.decode_scale and results.precision (how a result
  // was made: --fast-decode, --precision); 4 added the results' tile columns (--tiles: tile_grid,
  // photo_bin_score, the best tile's box, bin score and top-k) and results.occlusion (explain
  // --db); 5 added results.candidate_labels and results.hypothesis_template (the label set a
  // zero-shot CLIP result was made with; empty for classifiers) and made them part of the
  // results' key, so one CLIP model scanned with two label sets is two model runs side by side.
  // Older surveys are upgraded when opened for writing and read as they are otherwise (what they
  // lack reads as absent).
  static constexpr int kSchemaVersion = 5;
  enum class Mode { kReadWrite, kReadOnly };

  // The schema version of the survey as stored (older ones are read as they are).
  virtual int schema_version() const = 0;
  // Files the store keeps on disk (a scan of the folder holding them leaves them out).
  virtual std::vector<std::filesystem::path> own_files() const = 0;

  // All of it in one transaction (rolled back on error). Thread-safe, as is every method.
  // Returns, for each of batch.results in order, whether it was stored: false when the survey
  // already held a result for that photo and model (another scan of the same survey wrote it
  // first), so a run counts only what it added.
  virtual std::vector<bool> commit(const CommitBatch& batch) = 0;

  // Keeps an occlusion map (`binscan explain --db`) with the stored result of that photo and
  // model, replacing an earlier one; false when the survey has no such result.
  virtual bool set_occlusion(const std::string& sha256, const ModelKey& model,
                             const std::string& occlusion_json) = 0;

  // Lookups.
  virtual std::optional<PathRecord> find_path(const std::string& path) = 0;
  virtual PhotoState photo_state(const std::string& sha256) = 0;

  // Removes path rows under `roots` whose file no longer exists; returns how many.
  virtual int prune_missing_paths(const std::vector<std::filesystem::path>& roots) = 0;

  // Adds everything another survey of the same backend holds, in one transaction: photos (a
  // photo in both keeps the metadata and path of whichever saw it last, and the earliest
  // first-seen time), paths (the latest sighting wins), results (an existing (photo, model) row
  // is kept) and run records (each once). Merging the same survey again adds nothing. Throws
  // Error(kIo, kFormat, kUnsupported) naming `source` when it cannot be read as a binscan survey,
  // Error(kConfig) when it is this one.
  virtual MergeCounts merge_from(const std::filesystem::path& source) = 0;

  // Every row as stored (a survey of another backend merges them with merge_rows).
  virtual SurveyRows rows() = 0;
  // merge_from for rows read from a survey of any backend, with the same rules, in one
  // transaction. `source` names them in errors. Throws Error(kFormat) at the first row binscan
  // would not have written (check_survey_rows).
  virtual MergeCounts merge_rows(const SurveyRows& rows, const std::string& source) = 0;

  // The store's work queue, when it has one (PostgreSQL); nullptr: scans work alone.
  virtual WorkQueue* work_queue() { return nullptr; }

  // Runs: returns the run id.
  virtual std::int64_t begin_run(const std::string& args_json) = 0;
  virtual void end_run(std::int64_t run_id, const std::string& status,
                       const std::string& summary_json) = 0;
};

// Opens the survey at `location` with the backend it names: a postgresql:// (or postgres://)
// libpq URI is a PostgresStore, anything else an SQLite file. The one place --db is read.
std::unique_ptr<Store> open_store(const std::string& location,
                                  Store::Mode mode = Store::Mode::kReadWrite);
bool is_postgres_location(std::string_view location);
// `location` fit for messages: a URI's password (user:PASSWORD@, password=...) as "***".
std::string redacted_location(std::string_view location);

// Merges the survey at `source` (any backend) into `target`: SQLite into SQLite with
// merge_from, everything else row by row with merge_rows.
MergeCounts merge_survey(Store& target, const std::string& source);

// Error(kFormat) naming `source` at the first row binscan would not have written: a hash that is
// not 64 lowercase hex digits, a path that is not absolute, a model id that is no Hub id, model
// directory or URL (see sqlite_store.h).
void check_survey_rows(const SurveyRows& rows, const std::string& source);

// Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string utc_now_iso();

}  // namespace binscan

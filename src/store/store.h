// The survey store — what this layer owns: keeping photos, paths, results and runs so re-runs skip
// finished work and analysis can read everything back. Store is the interface; SqliteStore
// (store/sqlite_store.h) is the one backend today, a PostgreSQL one can follow behind the same
// interface. The tables and their columns are declared once, backend-neutrally, in
// store/columns.h; SQL is generated from that list inside each backend. The scan (store/scan.h)
// runs photos into a store. May use: analysis, pipeline and everything below (never render, cli).
//
// The survey's contents (one SQLite file in WAL mode for SqliteStore): every photo seen, by content
// hash, and every model's result for it. Re-runs skip what is stored; each batch is one
// transaction, so an interruption (Ctrl-C, kill -9, power loss) loses at most the batch in flight
// and never leaves duplicate or half-written rows (UNIQUE(sha256, model_id, revision) guards
// against duplicates).
//
// Tables (schema version kSchemaVersion):
//   photos  one row per distinct content: sha256 (hex), the path last seen, size, format, size in
//           pixels, EXIF time/GPS/bearing/camera, or the error when the file could not be decoded
//   paths   every path a photo was seen at, with size and mtime, so unchanged files are not
//           re-hashed and a renamed file is recognised by its hash
//   results one row per (photo, model id, model revision): top-k JSON, bin score/rank/verdict,
//           threshold and bin labels used, time taken, when, decode scale and precision
//   runs    one row per scan: start, end, status and the summary
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
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
  bool empty() const {
    return photos.empty() && paths.empty() && relocations.empty() && results.empty();
  }
};

// What the store knows about one content hash.
struct PhotoState {
  bool known = false;
  std::optional<std::string> error;
  std::string path;
  std::vector<ModelKey> models_done;
};

// What merging one database into another added.
struct MergeCounts {
  std::int64_t photos = 0;         // photos new to the target
  std::int64_t results = 0;        // results new to the target
  std::int64_t results_known = 0;  // results the target already had (kept as they were)
  std::int64_t runs = 0;           // run records copied
};

class Store : public SurveyReader {
 public:
  // 2 added photos.focal_35mm; 3 added results.decode_scale and results.precision (how a result
  // was made: --fast-decode, --precision); 4 added the results' tile columns (--tiles: tile_grid,
  // photo_bin_score, the best tile's box, bin score and top-k) and results.occlusion (explain
  // --db). Older surveys are upgraded when opened for writing and read as they are otherwise
  // (what they lack reads as absent).
  static constexpr int kSchemaVersion = 4;
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

  // Runs: returns the run id.
  virtual std::int64_t begin_run(const std::string& args_json) = 0;
  virtual void end_run(std::int64_t run_id, const std::string& status,
                       const std::string& summary_json) = 0;
};

// Opens the survey at `location` with the backend it names (today: an SQLite file).
std::unique_ptr<Store> open_store(const std::filesystem::path& location,
                                  Store::Mode mode = Store::Mode::kReadWrite);

// Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string utc_now_iso();

}  // namespace binscan

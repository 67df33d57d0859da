// The survey database: one SQLite file (WAL mode) holding every photo seen, by content hash, and
// every model's result for it. Re-runs skip what is stored; each batch is one transaction, so an
// interruption (Ctrl-C, kill -9, power loss) loses at most the batch in flight and never leaves
// duplicate or half-written rows (UNIQUE(sha256, model_id, revision) guards against duplicates).
//
// Schema (PRAGMA user_version = kSchemaVersion):
//   photos  one row per distinct content: sha256 (hex), the path last seen, size, format, size in
//           pixels, EXIF time/GPS/bearing/camera, or the error when the file could not be decoded
//   paths   every path a photo was seen at, with size and mtime, so unchanged files are not
//           re-hashed and a renamed file is recognised by its hash
//   results one row per (photo, model id, model revision): top-k JSON, bin score/rank/verdict,
//           threshold and bin labels used, time taken, when
//   runs    one row per scan: start, end, status and the summary
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace binscan {

struct PhotoRecord {
  std::string sha256;  // lowercase hex of the file content
  std::string path;    // the path last seen (absolute)
  std::int64_t size = 0;
  std::optional<std::string> format;  // "JPEG", "PNG", "WEBP"
  std::optional<int> width, height;   // oriented, as the models see it
  std::optional<int> orientation;
  std::optional<std::string> taken_at;  // EXIF DateTimeOriginal, local time
  std::optional<std::string> gps_time;  // UTC
  std::optional<double> lat, lon, alt;
  std::optional<double> bearing;
  std::optional<std::string> bearing_ref;  // "T" | "M"
  std::optional<std::string> make, camera_model;
  std::optional<std::string> error;  // why it could not be decoded
  std::optional<int> focal_35mm;     // EXIF FocalLengthIn35mmFilm (schema 2 on)
};

struct PathRecord {
  std::string path;
  std::string sha256;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
};

struct ModelKey {
  std::string id;
  std::string revision;
  bool operator==(const ModelKey&) const = default;
  std::string display() const { return revision.empty() ? id : id + "@" + revision; }
};

struct ResultRecord {
  std::string sha256;
  ModelKey model;
  bool remote = false;
  std::string top_json;  // [{"label":..., "class_id":..., "score":...}, ...] best first
  std::string top1_label;
  double top1_score = 0;
  double bin_score = 0;
  bool bin_score_exact = true;  // false: a lower bound (only the top-k were known)
  std::optional<int> bin_rank;  // nullopt: not among the known ranks
  int known_ranks = 0;
  std::string bin_labels_json;  // the labels counted as bins
  double threshold = 0;
  bool verdict = false;
  double prepare_ms = 0;  // this photo's preprocessing for this model
  double infer_ms = 0;    // the batch's inference time divided by its size
  int batch_size = 0;
  std::string created_at;  // UTC, ISO 8601
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

class Store {
 public:
  // 2 added photos.focal_35mm. Older files are upgraded when opened for writing and read as they
  // are otherwise (what they lack reads as absent).
  static constexpr int kSchemaVersion = 2;
  enum class Mode { kReadWrite, kReadOnly };

  // Creates the file and schema when missing (kReadWrite). Throws Error(kIo) when it cannot be
  // opened, Error(kUnsupported) when written by a newer binscan, Error(kFormat) when not a
  // binscan database.
  explicit Store(const std::filesystem::path& path, Mode mode = Mode::kReadWrite);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int schema_version() const { return version_; }

  // All of it in one transaction (rolled back on error). Thread-safe.
  void commit(const CommitBatch& batch);

  // Lookups (thread-safe).
  std::optional<PathRecord> find_path(const std::string& path);
  PhotoState photo_state(const std::string& sha256);

  // Removes path rows under `roots` whose file no longer exists; returns how many.
  int prune_missing_paths(const std::vector<std::filesystem::path>& roots);

  // Reading everything back (compare, export), in a stable order (path, then model).
  std::vector<PhotoRecord> photos();
  std::vector<ResultRecord> results();
  std::vector<ModelKey> models();  // in the order they first appeared

  // Adds everything another binscan database holds, in one transaction: photos (a photo in both
  // keeps the metadata and path of whichever saw it last, and the earliest first-seen time),
  // paths (the latest sighting wins), results (an existing (photo, model) row is kept) and run
  // records (each once). Merging the same database again adds nothing. Throws Error(kIo,
  // kFormat, kUnsupported) naming `source` when it cannot be read as a binscan database,
  // Error(kConfig) when it is this database.
  MergeCounts merge_from(const std::filesystem::path& source);

  // Runs: returns the run id.
  std::int64_t begin_run(const std::string& args_json);
  void end_run(std::int64_t run_id, const std::string& status, const std::string& summary_json);

 private:
  void exec(const char* sql);
  // BEGIN IMMEDIATE, body, COMMIT; rolled back when body throws.
  void in_transaction(const std::function<void()>& body);
  void migrate();
  std::filesystem::path path_;
  int version_ = 0;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

// Current UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string utc_now_iso();

}  // namespace binscan

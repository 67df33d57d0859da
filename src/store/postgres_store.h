// The PostgreSQL + PostGIS backend of Store, opened from a libpq URI (postgresql://...; the PG*
// environment variables and ~/.pgpass fill in what it leaves out). Many binscan processes on
// many machines share one survey: every write is one transaction, upserts make concurrent
// writers agree (a result already stored is kept), and the work queue (claim/finish below)
// hands each photo path to one worker at a time. All SQL lives in postgres_store.cpp, generated
// from the column lists of store/columns.h as SQLite's is, plus what only PostgreSQL has:
//
//   photos.geom       geometry(Point, 4326) from lon/lat (generated; GiST index)
//   bins              the last `binscan locate`'s bins, geometry(Point, 4326) (GiST index)
//   sight_lines       each bin's photos: camera -> bin, geometry(LineString, 4326)
//   photo_verdicts    view: one row per photo and model, with the photo's point (for QGIS)
//   located_bins      view: the bins with their point and how many photos saw each
//   bin_sight_lines   view: the sight lines
//   queue             the work queue: one row per photo path (pending, leased, done, failed)
//   workers           every process that took work: host, pid, when it was last seen
//   binscan_schema    the schema version (as SQLite's PRAGMA user_version)
//
// The connection is lost when the server restarts: every operation then reconnects with
// back-off (0.1 s doubling to 5 s, for up to BINSCAN_PG_RETRY_SECONDS, default 300) and runs its
// transaction again. The password never appears in a message (redacted_location).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"

struct pg_conn;

namespace binscan {

class PostgresStore final : public Store, public WorkQueue {
 public:
  // Connects and creates the schema when missing (kReadWrite). Throws Error(kIo) when the server
  // cannot be reached, Error(kUnsupported) when written by a newer binscan or PostGIS is
  // missing, Error(kFormat) when the database holds other tables of our names.
  explicit PostgresStore(const std::string& uri, Mode mode = Mode::kReadWrite);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  int schema_version() const override { return version_; }
  std::vector<std::filesystem::path> own_files() const override { return {}; }

  std::vector<bool> commit(const CommitBatch& batch) override;
  bool set_occlusion(const std::string& sha256, const ModelKey& model,
                     const std::string& occlusion_json) override;
  std::optional<PathRecord> find_path(const std::string& path) override;
  PhotoState photo_state(const std::string& sha256) override;
  int prune_missing_paths(const std::vector<std::filesystem::path>& roots) override;
  std::vector<PhotoRecord> photos() override;
  std::vector<ResultRecord> results() override;
  std::vector<ModelKey> models() override;
  // A PostgreSQL survey merges another by its URI (or any survey with merge_survey).
  MergeCounts merge_from(const std::filesystem::path& source) override;
  SurveyRows rows() override;
  MergeCounts merge_rows(const SurveyRows& rows, const std::string& source) override;
  std::int64_t begin_run(const std::string& args_json) override;
  void end_run(std::int64_t run_id, const std::string& status,
               const std::string& summary_json) override;

  // --- The work queue (WorkQueue, store.h): claims with FOR UPDATE SKIP LOCKED ---
  WorkQueue* work_queue() override { return this; }
  std::int64_t enqueue(const std::vector<QueueItem>& items) override;
  std::vector<QueueItem> claim(int count, std::chrono::seconds lease) override;
  void finish(const std::vector<std::string>& paths,
              const std::optional<std::string>& error) override;
  QueueStatus queue_status() override;
  bool others_working() override;
  // This process as a worker: the id ("host:pid:start") the queue records leases under.
  const std::string& worker_id() const { return worker_; }

  // --- Located bins (binscan locate) ---
  struct Bin {
    int id = 0;
    double lat = 0, lon = 0;
    std::string method;
    double spread_m = 0, best_score = 0;
    // The photos that saw it: sha256 and camera position.
    struct Sight {
      std::string sha256;
      double lat = 0, lon = 0;
    };
    std::vector<Sight> sights;
  };
  // Replaces the stored bins (and sight lines) with these, in one transaction.
  void replace_bins(const std::vector<Bin>& bins);

  // For messages: the URI without its password.
  const std::string& where() const { return where_; }

  class Conn;  // one libpq connection (postgres_store.cpp)

 private:
  // Runs `body` in a transaction on a live connection; reconnects with back-off and runs it
  // again when the connection is lost or the transaction is a deadlock's or serialization's
  // victim. The caller holds mutex_.
  void transaction(const std::function<void(Conn&)>& body);
  // The same for a single read (no explicit transaction).
  void read(const std::function<void(Conn&)>& body);
  void migrate(Conn& c);
  void connect();

  std::string uri_, where_;
  Mode mode_;
  int version_ = 0;
  std::string worker_;
  std::unique_ptr<Conn> conn_;
  std::mutex mutex_;
  std::chrono::seconds retry_for_{300};
};

}  // namespace binscan

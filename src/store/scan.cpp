#include "store/scan.h"

#include <algorithm>
#include <any>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "image/decode.h"
#include "pipeline/inputs.h"
#include "pipeline/run.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/progress.h"

namespace binscan {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// What the store sink learnt about a photo on the worker side (PhotoItem::tag).
struct StoreTag {
  enum class Settled { kNo, kDone, kDuplicate, kStoredFailure };
  Settled settled = Settled::kNo;
  std::string sha256;
  std::string stored_error;  // kStoredFailure: the error stored for it
  bool store_path = true;    // the paths row is new or changed
  bool relocate = false;     // the stored photo's path is gone: point it here
};

void fill_metadata(PhotoRecord& p, const DecodedImage& d) {
  p.format = std::string(format_name(d.format));
  p.width = d.display_width();
  p.height = d.display_height();
  const Exif& e = d.exif;
  p.orientation = e.orientation;
  p.taken_at = e.taken_at;
  p.gps_time = e.gps_time_utc;
  if (e.gps) {
    p.lat = e.gps->latitude;
    p.lon = e.gps->longitude;
    p.alt = e.gps->altitude_m;
  }
  p.bearing = e.bearing_deg;
  if (e.bearing_ref) p.bearing_ref = std::string(1, *e.bearing_ref);
  p.make = e.make;
  p.camera_model = e.model;
  p.focal_35mm = e.focal_length_35mm;
}

bool is_done(const PhotoState& st, const ModelKey& key) {
  return std::find(st.models_done.begin(), st.models_done.end(), key) != st.models_done.end();
}

// Photos from a work queue: claims a batch whenever the last is taken. When nothing is pending
// it waits while other workers hold leases (a killed worker's photos come back when its lease
// runs out), or always with `follow`; then ends.
class QueueFeed : public PhotoFeed {
 public:
  QueueFeed(WorkQueue& queue, const ScanOptions& options) : queue_(queue), options_(options) {}
  std::optional<PhotoInput> next() override {
    for (;;) {
      if (next_ < claimed_.size()) {
        const QueueItem& q = claimed_[next_++];
        PhotoInput in;
        in.name = q.path;
        in.path = q.path;
        in.size = q.size;
        in.mtime_ns = q.mtime_ns;
        ++fed_;
        return in;
      }
      if (stopped()) return std::nullopt;
      claimed_ = queue_.claim(options_.pipeline.batch, options_.lease);
      next_ = 0;
      if (!claimed_.empty()) {
        waiting_ = false;
        continue;
      }
      waiting_ = true;
      if (!options_.follow && !queue_.others_working()) return std::nullopt;
      for (int i = 0; i < 10 && !stopped(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  bool idle() const override { return waiting_; }
  int fed() const { return fed_; }

 private:
  bool stopped() const { return options_.pipeline.stop && options_.pipeline.stop->load(); }
  WorkQueue& queue_;
  const ScanOptions& options_;
  std::vector<QueueItem> claimed_;
  std::size_t next_ = 0;
  std::atomic<bool> waiting_{false};
  int fed_ = 0;
};

// The scan's sink: decides on the worker side what a photo still needs (from the store), and
// writes photos, paths and results, one transaction per batch.
class StoreSink : public PhotoSink {
 public:
  StoreSink(Store* store, std::vector<ScanModel>& models, const ScanOptions& options,
            ScanSummary& summary, Progress& progress, WorkQueue* queue)
      : store_(store),
        models_(models),
        options_(options),
        summary_(summary),
        progress_(progress),
        queue_(queue) {}

  void admit(PhotoItem& item) override;
  void examine(PhotoItem& item, std::span<const std::uint8_t> bytes) override;
  void finish(PhotoItem& item) override;
  void finish_batch(std::span<PhotoItem> items) override;
  void flush_metadata();
  std::size_t finished() const { return finished_; }

 private:
  bool consults_store() const { return options_.pipeline.run_models && store_; }
  void note(const std::string& path, const std::string& text,
            NoteSeverity severity = NoteSeverity::kWarning) {
    if (options_.note) options_.note(path, severity, text);
  }
  // Claims a content hash for this run; false when another photo of the run has it. Not in the
  // work queue: there the other photo's rows may have been dropped (its lease was lost), and
  // the store's unique key keeps a second copy's results out anyway.
  bool claim(const std::string& sha256) {
    if (queue_) return true;
    std::lock_guard lock(claim_mutex_);
    return claimed_.insert(sha256).second;
  }
  bool relocates(const PhotoState& st, const std::string& path) const {
    return st.path != path && !fs::exists(st.path);
  }
  void settle(PhotoItem& item, StoreTag tag) {
    item.state = PhotoItem::State::kSettled;
    item.tag = std::move(tag);
  }
  PhotoRecord photo_record(const PhotoItem& item, const StoreTag& tag) const;
  // Writes the batch and counts the results the store kept.
  void commit(const CommitBatch& batch);
  void record_path(const PhotoItem& item, const StoreTag& tag, CommitBatch& out);
  void record_runs(PhotoItem& item, int model, std::vector<ResultRecord>& out);
  void done_one() {
    ++finished_;
    progress_.advance();
  }

  Store* store_;
  std::vector<ScanModel>& models_;
  const ScanOptions& options_;
  ScanSummary& summary_;
  Progress& progress_;
  WorkQueue* queue_;  // work-queue mode: every photo's path is finished in the queue
  std::mutex claim_mutex_;
  std::unordered_set<std::string> claimed_;
  CommitBatch metadata_;  // writes that need no inference
  std::size_t finished_ = 0;
};

void StoreSink::admit(PhotoItem& item) {
  item.tag = StoreTag{};
  if (!consults_store()) return;
  const std::string& path = item.input.name;
  // An unchanged file at a known path is not read again when nothing is left to do for it.
  auto rec = store_->find_path(path);
  if (!rec || rec->size != item.input.size || rec->mtime_ns != item.input.mtime_ns) return;
  const PhotoState st = store_->photo_state(rec->sha256);
  const bool all_done = std::all_of(models_.begin(), models_.end(),
                                    [&](const ScanModel& m) { return is_done(st, m.key); });
  if (!st.known || (st.error ? options_.retry_failed : !all_done)) return;
  StoreTag tag;
  tag.settled = !claim(rec->sha256) ? StoreTag::Settled::kDuplicate
                : st.error          ? StoreTag::Settled::kStoredFailure
                                    : StoreTag::Settled::kDone;
  tag.stored_error = st.error.value_or("");
  tag.sha256 = rec->sha256;
  tag.store_path = false;
  tag.relocate = relocates(st, path);
  settle(item, std::move(tag));
}

void StoreSink::examine(PhotoItem& item, std::span<const std::uint8_t> bytes) {
  const std::string& path = item.input.name;
  auto& tag = std::any_cast<StoreTag&>(item.tag);
  item.input.size = static_cast<std::int64_t>(bytes.size());
  tag.sha256 = sha256_hex(bytes);
  if (!claim(tag.sha256)) {
    tag.settled = StoreTag::Settled::kDuplicate;
    settle(item, std::move(tag));
    return;
  }
  PhotoState st;
  if (consults_store()) st = store_->photo_state(tag.sha256);
  if (st.known && st.error && !options_.retry_failed) {
    tag.settled = StoreTag::Settled::kStoredFailure;
    tag.stored_error = *st.error;
    tag.relocate = relocates(st, path);
    settle(item, std::move(tag));
    return;
  }
  item.wanted.clear();
  for (int m = 0; m < static_cast<int>(models_.size()); ++m) {
    if (!st.known || st.error || !is_done(st, models_[static_cast<std::size_t>(m)].key)) {
      item.wanted.push_back(m);
    }
  }
  if (item.wanted.empty()) {
    tag.settled = StoreTag::Settled::kDone;
    tag.relocate = relocates(st, path);
    settle(item, std::move(tag));
  }
}

PhotoRecord StoreSink::photo_record(const PhotoItem& item, const StoreTag& tag) const {
  PhotoRecord p;
  p.sha256 = tag.sha256;
  p.path = item.input.name;
  p.size = item.input.size;
  if (item.decoded) fill_metadata(p, *item.decoded);
  if (item.error) p.error = item.error->cause();
  return p;
}

void StoreSink::finish(PhotoItem& item) {
  const std::string& path = item.input.name;
  const StoreTag* tag = std::any_cast<StoreTag>(&item.tag);
  const StoreTag none;
  if (!tag) tag = &none;  // an exception before admit() tagged it
  using State = PhotoItem::State;
  if (!options_.pipeline.run_models) {
    if (item.state == State::kUnreadable || item.state == State::kUndecodable) {
      ++summary_.failed;
      note(path, "failed: " + item.error->cause());
    } else {
      ++summary_.classified;
    }
    done_one();
    return;
  }
  record_path(item, *tag, metadata_);
  if (queue_ && item.state == State::kUnreadable) {
    // Perhaps a mount that came back late: another attempt, up to three.
    queue_->finish({path}, item.error->cause());
  } else if (queue_) {
    // Done with this photo: the mark commits with its rows (stored failure, metadata, ...).
    metadata_.finished_paths.push_back(path);
  }
  switch (item.state) {
    case State::kUnreadable:
      ++summary_.failed;
      note(path, "failed: " + item.error->cause());
      break;
    case State::kUndecodable:
      ++summary_.failed;
      note(path, "failed: " + item.error->cause());
      if (!tag->sha256.empty()) metadata_.photos.push_back(photo_record(item, *tag));
      break;
    case State::kSettled:
      switch (tag->settled) {
        case StoreTag::Settled::kDuplicate:
          ++summary_.duplicates;
          break;
        case StoreTag::Settled::kStoredFailure:
          ++summary_.failed;
          note(path, "failed: " + tag->stored_error);
          break;
        default:
          ++summary_.already_done;
          break;
      }
      break;
    case State::kReady:
    case State::kPending:
      // Decoded, but no model's input could be prepared: the photo is stored, the failures
      // counted.
      metadata_.photos.push_back(photo_record(item, *tag));
      for (int m = 0; m < static_cast<int>(models_.size()); ++m) {
        record_runs(item, m, metadata_.results);
      }
      ++summary_.classified;
      break;
  }
  done_one();
  // Writes that need no inference are batched too, so a re-run over a large tree is quick. In
  // the work queue they are held under a lease: committed by the batch.
  if (metadata_.paths.size() + metadata_.photos.size() >= 256 ||
      static_cast<int>(metadata_.finished_paths.size()) >= options_.pipeline.batch) {
    flush_metadata();
  }
}

void StoreSink::record_path(const PhotoItem& item, const StoreTag& tag, CommitBatch& out) {
  const std::string& path = item.input.name;
  if (!tag.sha256.empty() && tag.store_path && item.state != PhotoItem::State::kUnreadable) {
    out.paths.push_back({path, tag.sha256, item.input.size, item.input.mtime_ns});
  }
  if (tag.relocate) {
    out.relocations.emplace_back(tag.sha256, path);
    ++summary_.relocated;
  }
}

void StoreSink::record_runs(PhotoItem& item, int m, std::vector<ResultRecord>& out) {
  const auto& model = models_[static_cast<std::size_t>(m)];
  const auto& tag = std::any_cast<const StoreTag&>(item.tag);
  for (const ModelRun& run : item.runs) {
    if (run.model != m) continue;
    if (!run.result) {
      ++summary_.model_failures;
      note(item.input.name,
           model.key.display() + ": " + (run.error ? std::string(run.error->what()) : "no result"));
      continue;
    }
    const Classification& c = *run.result;
    const TiledVerdict tiled = judge_tiles(c, run.tiles, model.bins, options_.threshold);
    const BinVerdict& v = tiled.best;
    ResultRecord r;
    r.sha256 = tag.sha256;
    r.model = model.key;
    r.remote = model.classifier->info().remote;
    r.top_json = top_to_json(c.top);
    if (!c.top.empty()) {
      r.top1_label = c.top.front().label;
      r.top1_score = c.top.front().score;
    }
    r.bin_score = v.score;
    r.bin_score_exact = v.exact;
    r.bin_rank = v.rank;
    r.known_ranks = v.known_ranks;
    r.bin_labels_json = nlohmann::json(model.bins.labels).dump();
    r.threshold = v.threshold;
    r.verdict = v.verdict;
    r.prepare_ms = run.prepare_ms;
    r.infer_ms = run.infer_ms;
    r.batch_size = run.batch_size;
    r.decode_scale = run.decode_scale;
    if (const std::string& p = model.classifier->info().precision; !p.empty()) r.precision = p;
    if (tiled.best_tile) {
      const TileRun& tile = run.tiles[*tiled.best_tile];
      r.tile_grid = layout_spec(run.tile_cols, run.tile_rows);
      r.photo_bin_score = tiled.photo.score;
      r.tile_bin_score = tiled.tile->score;
      r.tile_x = tile.box.x;
      r.tile_y = tile.box.y;
      r.tile_width = tile.box.width;
      r.tile_height = tile.box.height;
      r.tile_top_json = top_to_json(tile.result->top);
    }
    out.push_back(std::move(r));
  }
}

void StoreSink::finish_batch(std::span<PhotoItem> items) {
  if (!options_.pipeline.run_models) {
    for (auto& item : items) finish(item);
    return;
  }
  CommitBatch batch = std::move(metadata_);
  metadata_ = CommitBatch{};
  std::vector<std::string> model_failed;  // work queue: tried again by the next claims
  for (auto& item : items) {
    const auto& tag = std::any_cast<const StoreTag&>(item.tag);
    record_path(item, tag, batch);
    batch.photos.push_back(photo_record(item, tag));
    if (!queue_) continue;
    const bool failed = std::any_of(item.runs.begin(), item.runs.end(),
                                    [](const ModelRun& r) { return !r.result; });
    (failed ? model_failed : batch.finished_paths).push_back(item.input.name);
  }
  // Model by model, so results are written in the order they always were.
  for (int m = 0; m < static_cast<int>(models_.size()); ++m) {
    for (auto& item : items) record_runs(item, m, batch.results);
  }
  commit(batch);
  if (!model_failed.empty()) queue_->finish(model_failed, std::string("a model failed"));
  for (std::size_t i = 0; i < items.size(); ++i) {
    ++summary_.classified;
    done_one();
  }
}

void StoreSink::flush_metadata() {
  if (metadata_.empty()) return;
  commit(metadata_);
  metadata_ = CommitBatch{};
}

void StoreSink::commit(const CommitBatch& batch) {
  if (!store_) return;
  const std::vector<bool> stored = store_->commit(batch);
  // New results are what the survey kept: a concurrent scan may have written some first.
  for (std::size_t i = 0; i < batch.results.size() && i < stored.size(); ++i) {
    if (!stored[i]) continue;
    for (std::size_t m = 0; m < models_.size(); ++m) {
      if (models_[m].key == batch.results[i].model) {
        ++summary_.new_results[m];
        break;
      }
    }
  }
}

ScanSummary scan(Store* store, const std::vector<fs::path>& inputs, std::vector<ScanModel>& models,
                 const ScanOptions& options) {
  const auto t0 = Clock::now();
  ScanSummary summary;
  summary.models = static_cast<int>(models.size());
  summary.new_results.assign(models.size(), 0);
  const auto note = [&](const std::string& path, NoteSeverity severity, const std::string& text) {
    if (options.note) options.note(path, severity, text);
  };
  WorkQueue* queue = store && options.pipeline.run_models ? store->work_queue() : nullptr;
  CollectOptions collect;
  collect.shard = options.shard;
  collect.shards = options.shards;
  if (store) collect.exclude = store->own_files();
  if (store && options.pipeline.run_models) {
    // Known unchanged paths are images without reading them again.
    collect.known_image = [store](const FileEntry& f) {
      const auto rec = store->find_path(f.path.string());
      return rec && rec->size == f.size && rec->mtime_ns == f.mtime_ns;
    };
  }
  CollectedPhotos collected;
  if (!inputs.empty()) collected = collect_photos(inputs, collect);
  summary.files = collected.files;
  summary.input_errors = static_cast<int>(collected.errors.size());
  for (const auto& [path, cause] : collected.errors) note(path, NoteSeverity::kWarning, cause);
  summary.other_shards = collected.other_shards;
  summary.not_images = static_cast<int>(collected.not_images.size());
  for (const auto& path : collected.not_images) {
    note(path, NoteSeverity::kInfo, "skipped: not an image (JPEG, PNG or WebP)");
  }
  summary.images = static_cast<int>(collected.photos.size());
  std::int64_t total = summary.images;
  if (queue) {
    std::vector<QueueItem> items;
    for (const auto& p : collected.photos) {
      // PostgreSQL text is UTF-8: a name that is not (an old camera card's Latin-1) cannot be
      // stored there, and would fail its whole batch. Said once, counted as failed.
      if (valid_utf8(p.name) != p.name) {
        ++summary.failed;
        note(p.name, NoteSeverity::kWarning,
             "failed: the file name is not UTF-8, which a PostgreSQL survey cannot store (rename "
             "it, or use an SQLite survey)");
        continue;
      }
      items.push_back({p.name, p.size, p.mtime_ns});
    }
    summary.enqueued = static_cast<int>(queue->enqueue(items));
    total = queue->queue_status().pending;
    if (options.enqueue_only) {
      summary.images = 0;  // none taken: the workers answer for them
      summary.seconds = ms_since(t0) / 1000.0;
      return summary;
    }
  }

  Progress progress("scan", total, Progress::Unit::kItems, options.show_progress);
  progress.set_item_name("photos");
  StoreSink sink(store, models, options, summary, progress, queue);
  std::vector<Classifier*> classifiers;
  for (auto& m : models) classifiers.push_back(m.classifier);
  ListFeed list(std::move(collected.photos));
  std::optional<QueueFeed> from_queue;
  PipelineOptions pipeline = options.pipeline;
  if (queue) {
    from_queue.emplace(*queue, options);
    // A partial batch runs while the feed waits for the queue.
    pipeline.linger = std::chrono::milliseconds(200);
  }
  const PipelineStats stats = run_pipeline(from_queue ? static_cast<PhotoFeed&>(*from_queue) : list,
                                           classifiers, sink, pipeline);
  sink.flush_metadata();
  progress.finish();
  // In the queue, this process answers for the photos it took.
  if (from_queue) summary.images = from_queue->fed();

  // Photos of an unfinished batch or never reached count as pending for every model.
  const auto images = static_cast<std::size_t>(summary.images);
  summary.not_reached = static_cast<int>(images - std::min(sink.finished(), images));
  // A stop that arrives once every photo is done (Ctrl-C while the last batch commits) leaves
  // nothing undone: the run is reported complete, not interrupted.
  summary.interrupted = stats.stopped && summary.not_reached > 0;
  summary.pending = summary.model_failures + summary.not_reached * summary.models;
  if (!summary.interrupted && store && options.pipeline.run_models && !inputs.empty()) {
    store->prune_missing_paths(collected.roots);
  }
  summary.seconds = ms_since(t0) / 1000.0;
  return summary;
}

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

int ScanSummary::total_new_results() const {
  int n = 0;
  for (const int r : new_results) n += r;
  return n;
}

std::string ScanSummary::line() const {
  std::string s = interrupted ? "interrupted: scanned " : "scanned ";
  s += plural(files, "file", "files") + ": " + plural(images, "photo", "photos") + " (" +
       std::to_string(classified) + " classified, " + std::to_string(already_done) +
       " already done";
  if (duplicates) s += ", " + plural(duplicates, "duplicate", "duplicates");
  if (not_reached) s += ", " + std::to_string(not_reached) + " not reached";
  s += "), " + std::to_string(not_images) + " skipped (not images), ";
  if (other_shards) s += std::to_string(other_shards) + " left to other shards, ";
  s += std::to_string(failed) + " failed";
  if (input_errors) s += ", " + plural(input_errors, "input error", "input errors");
  s += "; " + plural(total_new_results(), "new result", "new results") + " from " +
       plural(models, "model", "models") + "; " + std::to_string(pending) + " pending";
  if (enqueued >= 0) s += "; " + std::to_string(enqueued) + " queued";
  return s;
}

nlohmann::json ScanSummary::to_json() const {
  nlohmann::json j{{"files", files},
                   {"photos", images},
                   {"not_images", not_images},
                   {"failed", failed},
                   {"input_errors", input_errors},
                   {"already_done", already_done},
                   {"classified", classified},
                   {"duplicates", duplicates},
                   {"relocated", relocated},
                   {"not_reached", not_reached},
                   {"other_shards", other_shards},
                   {"model_failures", model_failures},
                   {"new_results", new_results},
                   {"total_new_results", total_new_results()},
                   {"pending", pending},
                   {"interrupted", interrupted},
                   {"complete", complete()},
                   {"models", models},
                   {"seconds", seconds}};
  if (enqueued >= 0) j["enqueued"] = enqueued;
  return j;
}

std::string top_to_json(const std::vector<Prediction>& top) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& p : top) {
    nlohmann::json o{{"label", p.label}, {"score", p.score}};
    if (p.class_id >= 0) o["class_id"] = p.class_id;
    arr.push_back(std::move(o));
  }
  return arr.dump();
}

namespace {

// The model alone: its id and revision (a plain directory: its path and a digest of its files).
ModelKey model_of(const ModelInfo& info) {
  if (!info.revision.empty() || info.remote) return {info.id, info.revision};
  std::error_code ec;
  if (!fs::is_directory(info.id, ec)) return {info.id, info.revision};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(info.id, ec)) {
    const auto name = e.path().filename().string();
    // A CLIP model's tokenizer makes its results too.
    const bool tokenizer = info.zero_shot && (name == "vocab.json" || name == "merges.txt" ||
                                              name == "tokenizer.json");
    if (name == "config.json" || name == "preprocessor_config.json" || tokenizer ||
        name.find(".safetensors") != std::string::npos) {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  Digest digest;
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    digest.update(name.c_str(), name.size() + 1);
    try {
      digest.update_file(f);
    } catch (const Error&) {
      throw Error(ErrorKind::kIo, f.string(), "cannot read model file");
    }
  }
  const std::string hex = digest.hex().substr(0, 16);
  return {absolute_normal(info.id).string(), "sha256:" + hex};
}

}  // namespace

std::string candidate_labels_json(const std::vector<std::string>& labels) {
  return nlohmann::json(labels).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ModelKey model_key_for(const ModelInfo& info) {
  ModelKey key = model_of(info);
  if (info.zero_shot) {
    key.candidate_labels = candidate_labels_json(info.labels);
    key.hypothesis_template = info.hypothesis_template;
  }
  return key;
}

ScanStatus ScanSummary::status() const {
  if (interrupted) return ScanStatus::kInterrupted;
  return complete() ? ScanStatus::kComplete : ScanStatus::kIncomplete;
}

std::string_view status_name(ScanStatus status) {
  switch (status) {
    case ScanStatus::kComplete:
      return "complete";
    case ScanStatus::kIncomplete:
      return "incomplete";
    case ScanStatus::kInterrupted:
      return "interrupted";
  }
  return "incomplete";
}

ScanSummary run_scan(Store* store, const std::vector<fs::path>& inputs,
                     std::vector<ScanModel>& models, const ScanOptions& options) {
  return scan(store, inputs, models, options);
}

}  // namespace binscan

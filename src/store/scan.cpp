#include "store/scan.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "image/decode.h"
#include "pipeline/photo.h"
#include "pipeline/walk.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"
#include "util/progress.h"

namespace binscan {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One file after the worker stage.
struct WorkItem {
  enum class Kind { kNotImage, kUnreadable, kFailed, kDone, kDuplicate, kWork };
  Kind kind = Kind::kWork;
  FileEntry file;
  std::string sha256;
  std::string error;
  bool store_path = true;  // the paths row is new or changed
  bool relocate = false;   // the stored photo's path is gone: point it here
  bool store_photo = false;
  PhotoRecord photo;
  std::vector<int> models;              // models that need this photo
  std::vector<PreparedInput> prepared;  // parallel to models
  std::vector<double> prepare_ms;
  std::vector<std::string> prepare_errors;  // parallel to models; non-empty: prepare failed
};

// A bounded multi-producer, single-consumer queue.
class ItemQueue {
 public:
  explicit ItemQueue(std::size_t capacity, int producers)
      : capacity_(capacity), producers_(producers) {}

  // False when the consumer has gone away.
  bool push(WorkItem item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  void producer_done() {
    std::lock_guard lock(mutex_);
    --producers_;
    not_empty_.notify_all();
  }
  std::optional<WorkItem> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || producers_ == 0; });
    if (items_.empty()) return std::nullopt;
    WorkItem item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }
  // The consumer stops: wake and release every producer.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    items_.clear();
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<WorkItem> items_;
  std::size_t capacity_;
  int producers_;
  bool closed_ = false;
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

class Scanner {
 public:
  Scanner(Store* store, std::vector<ScanModel>& models, const ScanOptions& options)
      : store_(store), models_(models), options_(options) {}

  ScanSummary run(const std::vector<fs::path>& inputs);

 private:
  bool stopping() const { return options_.stop && options_.stop->load(); }
  void note(const std::string& path, const std::string& text,
            NoteSeverity severity = NoteSeverity::kWarning) {
    if (options_.note) options_.note(path, severity, text);
  }
  WorkItem process(const FileEntry& file);
  void decode_and_prepare(WorkItem& item, std::span<const std::uint8_t> bytes);
  void worker(ItemQueue& queue);
  void accept(WorkItem item);
  void flush_group();
  void flush_metadata();
  void run_model(int m, std::vector<WorkItem*>& items, std::vector<ResultRecord>& out);

  Store* store_;
  std::vector<ScanModel>& models_;
  ScanOptions options_;
  std::vector<FileEntry> images_;
  std::atomic<std::size_t> next_{0};
  std::mutex claim_mutex_;
  std::unordered_set<std::string> claimed_;
  ScanSummary summary_;
  std::vector<WorkItem> group_;  // photos waiting for inference
  CommitBatch metadata_;         // writes that need no inference
  std::unique_ptr<Progress> progress_;
  std::size_t done_items_ = 0;
};

WorkItem Scanner::process(const FileEntry& file) {
  WorkItem item;
  item.file = file;
  const std::string path = file.path.string();
  try {
    if (options_.inference && store_) {
      // An unchanged file at a known path is not read again when nothing is left to do for it.
      if (auto rec = store_->find_path(path);
          rec && rec->size == file.size && rec->mtime_ns == file.mtime_ns) {
        PhotoState st = store_->photo_state(rec->sha256);
        const bool all_done = std::all_of(models_.begin(), models_.end(),
                                          [&](const ScanModel& m) { return is_done(st, m.key); });
        if (st.known && (st.error ? !options_.retry_failed : all_done)) {
          std::lock_guard lock(claim_mutex_);
          if (claimed_.insert(rec->sha256).second) {
            item.kind = st.error ? WorkItem::Kind::kFailed : WorkItem::Kind::kDone;
            item.error = st.error.value_or("");
          } else {
            item.kind = WorkItem::Kind::kDuplicate;
          }
          item.sha256 = rec->sha256;
          item.store_path = false;
          item.relocate = st.path != path && !fs::exists(st.path);
          return item;
        }
      }
    }
    std::vector<std::uint8_t> bytes;
    try {
      bytes = read_file(file.path);
    } catch (const Error& e) {
      item.kind = WorkItem::Kind::kUnreadable;
      item.error = e.cause();
      return item;
    }
    item.file.size = static_cast<std::int64_t>(bytes.size());
    item.sha256 = sha256_hex(bytes);
    {
      std::lock_guard lock(claim_mutex_);
      if (!claimed_.insert(item.sha256).second) {
        item.kind = WorkItem::Kind::kDuplicate;
        return item;
      }
    }
    item.photo.sha256 = item.sha256;
    item.photo.path = path;
    item.photo.size = item.file.size;
    PhotoState st;
    if (options_.inference && store_) st = store_->photo_state(item.sha256);
    if (st.known && st.error && !options_.retry_failed) {
      item.kind = WorkItem::Kind::kFailed;
      item.error = *st.error;
      item.relocate = st.path != path && !fs::exists(st.path);
      return item;
    }
    for (int m = 0; m < static_cast<int>(models_.size()); ++m) {
      if (!st.known || st.error || !is_done(st, models_[static_cast<std::size_t>(m)].key)) {
        item.models.push_back(m);
      }
    }
    if (item.models.empty()) {
      item.kind = WorkItem::Kind::kDone;
      item.relocate = st.path != path && !fs::exists(st.path);
      return item;
    }
    decode_and_prepare(item, bytes);
  } catch (const std::exception& e) {
    // Anything unexpected about one file stays with that file.
    item.kind = item.sha256.empty() ? WorkItem::Kind::kUnreadable : WorkItem::Kind::kFailed;
    item.error = e.what();
    item.store_photo = !item.sha256.empty();
    item.models.clear();
    item.prepared.clear();
  }
  return item;
}

void Scanner::decode_and_prepare(WorkItem& item, std::span<const std::uint8_t> bytes) {
  std::vector<const Classifier*> wanted;
  for (const int m : item.models) wanted.push_back(models_[static_cast<std::size_t>(m)].classifier);
  PreparedPhoto photo = prepare_photo(bytes, item.file.path.string(), wanted);
  if (photo.error) {
    item.kind = WorkItem::Kind::kFailed;
    item.error = photo.error->cause();
    item.photo.error = photo.error->cause();
    item.store_photo = true;
    item.models.clear();
    return;
  }
  fill_metadata(item.photo, *photo.decoded);
  item.store_photo = true;
  item.kind = WorkItem::Kind::kWork;
  for (auto& m : photo.models) {
    if (m.input) {
      item.prepared.push_back(std::move(*m.input));
      item.prepare_errors.emplace_back();
    } else {
      item.prepared.emplace_back();
      item.prepare_errors.emplace_back(m.error->what());
    }
    item.prepare_ms.push_back(m.prepare_ms);
  }
}

void Scanner::worker(ItemQueue& queue) {
  if (options_.worker_nice != 0) {
    // Per thread on Linux: setpriority with a thread id changes only that thread.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.worker_nice);
  }
  while (!stopping()) {
    const std::size_t i = next_.fetch_add(1);
    if (i >= images_.size()) break;
    if (!queue.push(process(images_[i]))) break;
  }
  queue.producer_done();
}

void Scanner::accept(WorkItem item) {
  const std::string path = item.file.path.string();
  auto finish = [&] {
    ++done_items_;
    if (progress_) progress_->advance();
  };
  if (!options_.inference) {
    if (item.kind == WorkItem::Kind::kFailed || item.kind == WorkItem::Kind::kUnreadable) {
      ++summary_.failed;
      note(path, "failed: " + item.error);
    } else {
      ++summary_.classified;
    }
    finish();
    return;
  }
  if (!item.sha256.empty() && item.store_path && item.kind != WorkItem::Kind::kUnreadable) {
    metadata_.paths.push_back({path, item.sha256, item.file.size, item.file.mtime_ns});
  }
  if (item.relocate) {
    metadata_.relocations.emplace_back(item.sha256, path);
    ++summary_.relocated;
  }
  switch (item.kind) {
    case WorkItem::Kind::kNotImage:
      break;
    case WorkItem::Kind::kUnreadable:
      ++summary_.failed;
      note(path, "failed: " + item.error);
      finish();
      break;
    case WorkItem::Kind::kFailed:
      ++summary_.failed;
      note(path, "failed: " + item.error);
      if (item.store_photo) {
        if (!item.photo.error) item.photo.error = item.error;
        item.photo.sha256 = item.sha256;
        item.photo.path = path;
        item.photo.size = item.file.size;
        metadata_.photos.push_back(item.photo);
      }
      finish();
      break;
    case WorkItem::Kind::kDone:
      ++summary_.already_done;
      finish();
      break;
    case WorkItem::Kind::kDuplicate:
      ++summary_.duplicates;
      finish();
      break;
    case WorkItem::Kind::kWork:
      group_.push_back(std::move(item));
      if (static_cast<int>(group_.size()) >= options_.batch) flush_group();
      break;
  }
  // Writes that need no inference are batched too, so a re-run over a large tree is quick.
  if (metadata_.paths.size() + metadata_.photos.size() >= 256) flush_metadata();
}

void Scanner::flush_metadata() {
  if (!store_ || metadata_.empty()) return;
  store_->commit(metadata_);
  metadata_ = CommitBatch{};
}

void Scanner::run_model(int m, std::vector<WorkItem*>& items, std::vector<ResultRecord>& out) {
  auto& model = models_[static_cast<std::size_t>(m)];
  // The photos of this group that need model m, with their prepared inputs.
  std::vector<std::pair<WorkItem*, std::size_t>> todo;
  for (WorkItem* item : items) {
    for (std::size_t j = 0; j < item->models.size(); ++j) {
      if (item->models[j] != m) continue;
      if (!item->prepare_errors[j].empty()) {
        ++summary_.model_failures;
        note(item->file.path.string(), model.key.display() + ": " + item->prepare_errors[j]);
      } else {
        todo.emplace_back(item, j);
      }
    }
  }
  if (todo.empty()) return;
  auto record = [&](std::span<const std::pair<WorkItem*, std::size_t>> part) {
    std::vector<PreparedInput> inputs;
    inputs.reserve(part.size());
    for (auto& [item, j] : part) inputs.push_back(std::move(item->prepared[j]));
    const auto t0 = Clock::now();
    const std::vector<ClassifyOutcome> outcomes = model.classifier->run(inputs, options_.top_k);
    const double per_photo = ms_since(t0) / static_cast<double>(part.size());
    if (outcomes.size() != part.size()) {
      throw Error(ErrorKind::kInternal, model.key.id, "classifier returned a wrong result count");
    }
    for (std::size_t k = 0; k < part.size(); ++k) {
      const auto& [item, j] = part[k];
      if (!outcomes[k].ok()) {
        ++summary_.model_failures;
        note(item->file.path.string(), model.key.display() + ": " + outcomes[k].error->what());
        continue;
      }
      const auto& c = *outcomes[k].result;
      const BinVerdict v = judge_bins(c, model.bins, options_.threshold);
      ResultRecord r;
      r.sha256 = item->sha256;
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
      r.prepare_ms = item->prepare_ms[j];
      r.infer_ms = per_photo;
      r.batch_size = static_cast<int>(part.size());
      out.push_back(std::move(r));
      ++summary_.new_results[static_cast<std::size_t>(m)];
    }
  };
  record(todo);
}

void Scanner::flush_group() {
  if (group_.empty()) return;
  if (stopping()) return;  // interrupted: this batch is dropped whole, the next run redoes it
  std::vector<WorkItem*> items;
  for (auto& item : group_) items.push_back(&item);
  CommitBatch batch = std::move(metadata_);
  metadata_ = CommitBatch{};
  for (auto* item : items) batch.photos.push_back(item->photo);
  for (int m = 0; m < static_cast<int>(models_.size()); ++m) run_model(m, items, batch.results);
  if (store_) store_->commit(batch);
  for (auto* item : items) {
    (void)item;
    ++summary_.classified;
    ++done_items_;
    if (progress_) progress_->advance();
  }
  group_.clear();
}

ScanSummary Scanner::run(const std::vector<fs::path>& inputs) {
  const auto t0 = Clock::now();
  summary_.models = static_cast<int>(models_.size());
  summary_.new_results.assign(models_.size(), 0);
  std::vector<fs::path> exclude;
  if (store_) {
    exclude = store_->own_files();
  }
  WalkResult walked = walk_inputs(inputs, exclude);
  summary_.files = static_cast<int>(walked.files.size());
  summary_.input_errors = static_cast<int>(walked.errors.size());
  for (const auto& [path, cause] : walked.errors) note(path, cause);
  std::vector<fs::path> roots;
  for (const auto& in : inputs) roots.push_back(absolute_normal(in));
  // Images by content; known unchanged paths are images without reading them again.
  for (auto& f : walked.files) {
    if (options_.shards > 1 && shard_of(f.path, roots, options_.shards) != options_.shard) {
      ++summary_.other_shards;
      continue;
    }
    bool image = false;
    try {
      if (store_ && options_.inference) {
        if (auto rec = store_->find_path(f.path.string());
            rec && rec->size == f.size && rec->mtime_ns == f.mtime_ns) {
          image = true;
        }
      }
      if (!image) image = sniff_file(f.path).has_value();
    } catch (const Error& e) {
      // Unreadable: let the worker report it as a failed photo.
      image = true;
    }
    if (image) {
      images_.push_back(std::move(f));
    } else {
      ++summary_.not_images;
      note(f.path.string(), "skipped: not an image (JPEG, PNG or WebP)", NoteSeverity::kInfo);
    }
  }
  summary_.images = static_cast<int>(images_.size());
  progress_ = std::make_unique<Progress>("scan", static_cast<std::int64_t>(images_.size()),
                                         Progress::Unit::kItems, options_.show_progress);
  progress_->set_item_name("photos");
  const int workers = std::max(1, options_.workers);
  ItemQueue queue(static_cast<std::size_t>(std::max(2 * options_.batch, workers + 1)), workers);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers));
  for (int w = 0; w < workers; ++w) threads.emplace_back([&] { worker(queue); });
  try {
    while (auto item = queue.pop()) {
      accept(std::move(*item));
      if (stopping()) break;
    }
    if (!stopping()) flush_group();
    flush_metadata();
  } catch (...) {
    queue.close();
    for (auto& t : threads) t.join();
    throw;
  }
  queue.close();
  for (auto& t : threads) t.join();
  progress_->finish();
  // Photos of an unfinished batch or never reached count as pending for every model.
  summary_.not_reached = static_cast<int>(images_.size() - std::min(done_items_, images_.size()));
  // A stop that arrives once every photo is done (Ctrl-C while the last batch commits) leaves
  // nothing undone: the run is reported complete, not interrupted.
  summary_.interrupted = stopping() && summary_.not_reached > 0;
  summary_.pending = summary_.model_failures + summary_.not_reached * summary_.models;
  if (!summary_.interrupted && store_ && options_.inference) {
    store_->prune_missing_paths(roots);
  }
  summary_.seconds = ms_since(t0) / 1000.0;
  return summary_;
}

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

int shard_of(const fs::path& file, const std::vector<fs::path>& roots, int shards) {
  std::string key = file.filename().string();
  for (const auto& root : roots) {
    const auto rel = file.lexically_relative(root);
    if (!rel.empty() && *rel.begin() != ".." && rel != ".") {
      key = rel.generic_string();
      break;
    }
  }
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: tiny, and stable everywhere
  for (const unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return static_cast<int>(h % static_cast<std::uint64_t>(std::max(shards, 1))) + 1;
}

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
  return s;
}

nlohmann::json ScanSummary::to_json() const {
  return {{"files", files},
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

ModelKey model_key_for(const ModelInfo& info) {
  if (!info.revision.empty() || info.remote) return {info.id, info.revision};
  std::error_code ec;
  if (!fs::is_directory(info.id, ec)) return {info.id, info.revision};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(info.id, ec)) {
    const auto name = e.path().filename().string();
    if (name == "config.json" || name == "preprocessor_config.json" ||
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
  Scanner scanner(store, models, options);
  return scanner.run(inputs);
}

}  // namespace binscan

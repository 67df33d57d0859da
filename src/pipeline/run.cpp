#include "pipeline/run.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <thread>

#include "util/file.h"

namespace binscan {
namespace {

using Clock = std::chrono::steady_clock;

bool stopping(const PipelineOptions& o) { return o.stop && o.stop->load(); }

// The photos between the feed and the sink: at most `capacity` of them, handed out in feed
// order whatever order the workers finish them in.
class Window {
 public:
  explicit Window(std::size_t capacity) : capacity_(capacity) {}

  // A worker's turn to take a photo from the feed: false once closed or the feed has ended.
  bool reserve() {
    std::unique_lock lock(mutex_);
    space_.wait(lock, [&] { return reserved_ < capacity_ || closed_ || fed_all_; });
    if (closed_ || fed_all_) return false;
    ++reserved_;
    return true;
  }
  // The feed gave nothing for a reservation: it has ended after `count` photos.
  void feed_ended(std::uint64_t count) {
    std::lock_guard lock(mutex_);
    --reserved_;
    fed_all_ = true;
    fed_ = count;
    space_.notify_all();
    ready_.notify_all();
  }
  // A worker took a photo from the feed and is reading / decoding it.
  void started() {
    std::lock_guard lock(mutex_);
    ++in_work_;
  }
  void put(PhotoItem item) {
    std::lock_guard lock(mutex_);
    --in_work_;
    if (in_work_ == 0) ready_.notify_all();  // a lingering pop may stop waiting
    if (closed_) return;
    const std::uint64_t seq = item.seq;
    done_.emplace(seq, std::move(item));
    if (seq == next_) ready_.notify_all();
  }
  // A worker stopped early (the stop flag): nothing more will come from it.
  void worker_gone() {
    std::lock_guard lock(mutex_);
    ++gone_;
    ready_.notify_all();
  }

  enum class Pop { kItem, kLingered, kEnd };
  // The next photo in feed order. `linger` set: gives up after that long without one, or at
  // once when `idle` says the feed has nothing waiting and no worker holds a photo.
  Pop pop(PhotoItem& out, std::optional<std::chrono::milliseconds> linger, int workers,
          const std::function<bool()>& idle) {
    std::unique_lock lock(mutex_);
    const auto can_go = [&] {
      return done_.count(next_) > 0 || (fed_all_ && next_ >= fed_) || gone_ == workers;
    };
    if (linger) {
      const auto nothing_coming = [&] { return in_work_ == 0 && done_.empty() && idle(); };
      if (!ready_.wait_for(lock, *linger, [&] { return can_go() || nothing_coming(); }) ||
          !can_go()) {
        return Pop::kLingered;
      }
    } else {
      ready_.wait(lock, can_go);
    }
    auto it = done_.find(next_);
    if (it == done_.end()) return Pop::kEnd;
    out = std::move(it->second);
    done_.erase(it);
    ++next_;
    --reserved_;
    space_.notify_one();
    return Pop::kItem;
  }
  // The pipeline thread stops: release every worker.
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    done_.clear();
    space_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable space_, ready_;
  std::size_t capacity_;
  std::size_t reserved_ = 0;  // photos taken from the feed and not yet popped (or being taken)
  int in_work_ = 0;           // photos taken from the feed and not yet put
  std::map<std::uint64_t, PhotoItem> done_;
  std::uint64_t next_ = 0;  // the seq to hand out next
  bool fed_all_ = false;
  std::uint64_t fed_ = 0;
  int gone_ = 0;
  bool closed_ = false;
};

class Pipeline {
 public:
  Pipeline(PhotoFeed& feed, std::span<Classifier* const> models, PhotoSink& sink,
           const PipelineOptions& options)
      : feed_(feed),
        models_(models),
        sink_(sink),
        options_(options),
        workers_(std::max(1, options.workers)),
        window_(static_cast<std::size_t>(std::max(2 * std::max(1, options.batch), workers_ + 1))) {}

  PipelineStats run();

 private:
  void work();
  void process(PhotoItem& item);
  void flush(std::vector<PhotoItem>& group);

  PhotoFeed& feed_;
  std::span<Classifier* const> models_;
  PhotoSink& sink_;
  const PipelineOptions& options_;
  int workers_;
  Window window_;
  std::mutex feed_mutex_;
  std::uint64_t fed_ = 0;  // under feed_mutex_
  std::mutex core_;        // with options_.one_core: held while preparing or running a model
  PipelineStats stats_;
};

void Pipeline::work() {
  if (options_.worker_nice != 0) {
    // Per thread on Linux: setpriority with a thread id changes only that thread.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.worker_nice);
  }
  while (!stopping(options_) && window_.reserve()) {
    PhotoItem item;
    {
      // Sequence numbers are given under the feed's lock, so they follow the feed's order.
      std::lock_guard lock(feed_mutex_);
      std::optional<PhotoInput> input;
      try {
        input = feed_.next();
      } catch (...) {
        input.reset();
      }
      if (!input) {
        window_.feed_ended(fed_);
        break;
      }
      item.seq = fed_++;
      item.input = std::move(*input);
      window_.started();
    }
    {
      std::unique_lock core(core_, std::defer_lock);
      if (options_.one_core) core.lock();
      process(item);
    }
    window_.put(std::move(item));
  }
  window_.worker_gone();
}

void Pipeline::process(PhotoItem& item) {
  const std::string& name = item.input.name;
  bool read = false;
  try {
    item.wanted.resize(models_.size());
    for (std::size_t m = 0; m < models_.size(); ++m) item.wanted[m] = static_cast<int>(m);
    sink_.admit(item);
    if (item.state == PhotoItem::State::kSettled) return;
    std::vector<std::uint8_t> bytes;
    if (item.input.in_memory()) {
      bytes = std::move(item.input.bytes);
      item.input.bytes = {};
    } else {
      try {
        bytes = read_file(item.input.path);
      } catch (const Error& e) {
        item.state = PhotoItem::State::kUnreadable;
        item.error = e;
        return;
      }
    }
    read = true;
    sink_.examine(item, bytes);
    if (item.state == PhotoItem::State::kSettled) return;
    std::vector<const Classifier*> wanted;
    for (const int m : item.wanted) wanted.push_back(models_[static_cast<std::size_t>(m)]);
    PreparedPhoto photo =
        prepare_photo(bytes, name, wanted, PrepareOptions{options_.fast_decode, options_.tiles});
    if (photo.error) {
      item.state = PhotoItem::State::kUndecodable;
      item.error = std::move(photo.error);
      return;
    }
    item.state = PhotoItem::State::kReady;
    item.decoded = std::move(photo.decoded);
    item.runs.resize(item.wanted.size());
    for (std::size_t j = 0; j < item.wanted.size(); ++j) {
      ModelRun& run = item.runs[j];
      ModelInput& m = photo.models[j];
      run.model = item.wanted[j];
      run.prepare_ms = m.prepare_ms;
      run.tile_cols = m.tile_cols;
      run.tile_rows = m.tile_rows;
      const auto failed_tile =
          std::find_if(m.tiles.begin(), m.tiles.end(), [](const TileInput& t) { return !t.input; });
      if (m.input && failed_tile == m.tiles.end()) {
        run.decode_scale = m.input->decode_scale;
        run.input = std::move(m.input);
        for (TileInput& t : m.tiles) run.tiles.push_back({t.box, std::move(t.input), {}, {}});
      } else {
        run.error = m.input ? std::move(failed_tile->error) : std::move(m.error);
        run.prepare_failed = true;
      }
    }
    sink_.prepared(item);
  } catch (const std::exception& e) {
    // Anything unexpected about one photo stays with that photo.
    item.state = read ? PhotoItem::State::kUndecodable : PhotoItem::State::kUnreadable;
    item.error = Error(ErrorKind::kInternal, name, e.what());
    item.runs.clear();
  }
}

void Pipeline::flush(std::vector<PhotoItem>& group) {
  if (group.empty()) return;
  if (stopping(options_)) {
    // Interrupted: this batch is dropped whole; a re-run does it again.
    group.clear();
    return;
  }
  if (options_.run_models) {
    for (std::size_t m = 0; m < models_.size(); ++m) {
      std::vector<ModelRun*> todo;
      for (auto& item : group) {
        for (auto& run : item.runs) {
          if (run.model == static_cast<int>(m) && run.input) todo.push_back(&run);
        }
      }
      if (todo.empty()) continue;
      // Every photo's input and then its tiles', in one list the model runs in its batches.
      std::vector<PreparedInput> inputs;
      inputs.reserve(todo.size());
      for (ModelRun* run : todo) {
        inputs.push_back(std::move(*run->input));
        run->input.reset();
        for (TileRun& tile : run->tiles) {
          inputs.push_back(std::move(*tile.input));
          tile.input.reset();
        }
      }
      std::unique_lock core(core_, std::defer_lock);
      if (options_.one_core) core.lock();
      const auto t0 = Clock::now();
      std::vector<ClassifyOutcome> outcomes = models_[m]->run(inputs, options_.top_k);
      if (core.owns_lock()) core.unlock();
      const double per_photo =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
          static_cast<double>(todo.size());
      if (outcomes.size() != inputs.size()) {
        throw Error(ErrorKind::kInternal, models_[m]->info().id,
                    "classifier returned a wrong result count");
      }
      std::size_t k = 0;
      for (ModelRun* run : todo) {
        run->result = std::move(outcomes[k].result);
        run->error = std::move(outcomes[k].error);
        ++k;
        for (TileRun& tile : run->tiles) {
          tile.result = std::move(outcomes[k].result);
          tile.error = std::move(outcomes[k].error);
          ++k;
          // A photo's result stands only with all its tiles (else it is retried whole).
          if (!tile.result && run->result) {
            run->result.reset();
            run->error = tile.error;
          }
        }
        run->infer_ms = per_photo;
        run->batch_size = static_cast<int>(todo.size());
      }
    }
  }
  sink_.finish_batch(group);
  stats_.finished += group.size();
  group.clear();
}

PipelineStats Pipeline::run() {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(workers_));
  const auto stop_workers = [&] {
    window_.close();
    for (auto& t : threads) t.join();
  };
  for (int w = 0; w < workers_; ++w) threads.emplace_back([this] { work(); });
  const auto batch = static_cast<std::size_t>(std::max(1, options_.batch));
  std::vector<PhotoItem> group;
  try {
    PhotoItem item;
    for (;;) {
      const auto linger = group.empty() ? std::nullopt : options_.linger;
      const Window::Pop got = window_.pop(item, linger, workers_, [this] { return feed_.idle(); });
      if (got == Window::Pop::kEnd) break;
      if (got == Window::Pop::kLingered) {
        flush(group);
        continue;
      }
      if (stopping(options_)) break;
      if (item.runs_models()) {
        group.push_back(std::move(item));
        if (group.size() >= batch) flush(group);
      } else {
        sink_.finish(item);
        ++stats_.finished;
      }
      item = PhotoItem{};
    }
    flush(group);
  } catch (...) {
    stop_workers();
    throw;
  }
  stop_workers();
  stats_.stopped = stopping(options_);
  std::lock_guard lock(feed_mutex_);
  stats_.fed = fed_;
  return stats_;
}

}  // namespace

bool PhotoItem::runs_models() const {
  return state == State::kReady && std::any_of(runs.begin(), runs.end(), [](const ModelRun& r) {
           return r.input.has_value();
         });
}

PipelineStats run_pipeline(PhotoFeed& feed, std::span<Classifier* const> models, PhotoSink& sink,
                           const PipelineOptions& options) {
  Pipeline pipeline(feed, models, sink, options);
  return pipeline.run();
}

}  // namespace binscan

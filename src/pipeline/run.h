// Part of the pipeline layer (see pipeline/photo.h).
//
// The one way photos run through models, whatever asks: `scan` (into a store), `classify` (to the
// terminal), `classify --compare-remote` (two backends side by side), and a server handing in
// request bodies. A feed gives the photos; worker threads read, decode and prepare them; this
// thread runs each model on full batches and hands the photos, in the feed's order, to a sink.
//
//   feed ─► workers: sink.admit (which models?) ─► read ─► sink.examine ─► decode once ─►
//           prepare per model (reading through the EXIF orientation)
//        ─► reorder window (feed order) ─► this thread: batch of B photos ─► each model's run()
//        ─► sink.finish(photo) for photos with nothing to run, sink.finish_batch(photos) after run
//
// Memory stays bounded: at most `window` photos are between the feed and the sink, and a photo's
// pixels are let go as soon as its inputs are prepared.
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "image/decode.h"
#include "pipeline/inputs.h"
#include "pipeline/photo.h"
#include "util/error.h"

namespace binscan {

// Where photos come from. next() is called from several worker threads (under a lock the
// pipeline holds, so a feed need not be thread-safe) and may block, e.g. a server waiting for
// its next request.
class PhotoFeed {
 public:
  virtual ~PhotoFeed() = default;
  // The next photo, or nullopt when there are no more.
  virtual std::optional<PhotoInput> next() = 0;
  // True when no photo is waiting to be taken right now (a server with no request queued). A
  // partial batch then runs at once instead of lingering for photos that are not on their way.
  // Called from the pipeline's thread, concurrently with next(). Default: never known idle.
  virtual bool idle() const { return false; }
};

// A fixed list of photos (the command line's).
class ListFeed : public PhotoFeed {
 public:
  explicit ListFeed(std::vector<PhotoInput> photos) : photos_(std::move(photos)) {}
  std::optional<PhotoInput> next() override {
    if (next_ >= photos_.size()) return std::nullopt;
    return std::move(photos_[next_++]);
  }
  std::size_t size() const { return photos_.size(); }

 private:
  std::vector<PhotoInput> photos_;
  std::size_t next_ = 0;
};

// What one model made of one tile of a photo (PipelineOptions::tiles).
struct TileRun {
  TileBox box;                         // in the photo as displayed
  std::optional<PreparedInput> input;  // until the model has run on it
  std::optional<Classification> result;
  std::optional<Error> error;
};

// What one model made of one photo.
struct ModelRun {
  int model = -1;                      // index into the pipeline's models
  std::optional<PreparedInput> input;  // until the model has run on it
  std::optional<Classification> result;
  std::optional<Error> error;  // preparing or running failed (names the photo)
  bool prepare_failed = false;
  double prepare_ms = 0;
  double infer_ms = 0;   // the batch's run time divided by its size
  int decode_scale = 1;  // PreparedInput::decode_scale of the input it ran on
  int batch_size = 0;
  // With tiles: each tile's run, and the layout they came from (1x1: no tiles). infer_ms then
  // covers the photo and its tiles.
  std::vector<TileRun> tiles;
  int tile_cols = 1, tile_rows = 1;
};

// A photo on its way through the pipeline.
struct PhotoItem {
  enum class State {
    kPending,      // to be read, decoded and run
    kSettled,      // the sink decided there is nothing to run (already done, duplicate, ...)
    kUnreadable,   // the file could not be read (error says why)
    kUndecodable,  // the bytes are not an image binscan can decode (error says why)
    kReady,        // decoded; runs hold each wanted model's input or preparation error
  };
  std::uint64_t seq = 0;  // position in the feed
  PhotoInput input;
  State state = State::kPending;
  std::optional<Error> error;
  // Models the photo is run through (indices into the pipeline's models); all of them unless the
  // sink narrows it in admit() or examine().
  std::vector<int> wanted;
  std::optional<DecodedImage> decoded;  // format, size and EXIF (no pixels) once kReady
  std::vector<ModelRun> runs;           // parallel to wanted once kReady
  std::any tag;                         // the sink's own notes about this photo
  // Whether it goes into a batch for the models.
  bool runs_models() const;
};

// What is done with the photos. admit() and examine() run on worker threads (concurrently:
// guard shared state), as does prepared(); finish() and finish_batch() on the pipeline's thread, in
// feed order.
class PhotoSink {
 public:
  virtual ~PhotoSink() = default;
  // Before the file is read: may settle the photo (state = kSettled) or narrow `wanted`.
  virtual void admit(PhotoItem& item) { (void)item; }
  // Once read (`bytes` is the content): may settle the photo or narrow `wanted`.
  virtual void examine(PhotoItem& item, std::span<const std::uint8_t> bytes) {
    (void)item;
    (void)bytes;
  }
  // Once decoded and prepared (state kReady, the inputs in item.runs), on the worker thread: e.g.
  // to keep a picture of what a model will see.
  virtual void prepared(PhotoItem& item) { (void)item; }
  // A photo with nothing to run: settled, unreadable, undecodable, or none of its models could
  // be prepared.
  virtual void finish(PhotoItem& item) = 0;
  // Photos after every model has run on them (results or errors in item.runs), in feed order.
  virtual void finish_batch(std::span<PhotoItem> items) = 0;
};

struct PipelineOptions {
  int batch = 8;    // photos per model run
  int workers = 2;  // read + decode + prepare threads
  // Linux nice value of the worker threads relative to the model thread (0: same priority).
  // A positive value lets them fill the cores the engine leaves idle without slowing it down.
  int worker_nice = 0;
  // The workers and the model take turns instead of overlapping: a worker prepares a photo only
  // while no model runs and the other way round, so the whole pipeline uses one core's worth of
  // CPU (--threads 1: several processes side by side, each on its own core).
  bool one_core = false;
  int top_k = 5;
  bool run_models = true;  // false: read, decode and prepare only (to time the input side)
  // JPEGs decoded at a reduced DCT scale when every wanted model accepts it (prepare_photo):
  // faster, not bit-exact. ModelRun::decode_scale says which scale each result came from.
  bool fast_decode = false;
  // Tiles classified besides each whole photo (pipeline/tiles.h), in the same model runs; a tile
  // that cannot be prepared fails the photo's run for that model.
  TileGrid tiles;
  // A partial batch runs when no photo has arrived for this long (a server's requests should not
  // wait for a full batch), or at once when the feed is idle and no worker holds a photo;
  // nullopt: wait for a full batch or the feed's end.
  std::optional<std::chrono::milliseconds> linger;
  // Set (e.g. by SIGINT) to stop: the batch in flight is dropped, not handed to the sink.
  const std::atomic<bool>* stop = nullptr;
};

struct PipelineStats {
  std::uint64_t fed = 0;       // photos the feed gave
  std::uint64_t finished = 0;  // photos handed to the sink
  bool stopped = false;        // the stop flag ended the run
};

// Runs every photo of `feed` through `models` (not owned; run() called from this thread only)
// into `sink`. Per-photo problems go to the sink; exceptions from the sink or a model end the
// run (after the workers have stopped) and propagate.
PipelineStats run_pipeline(PhotoFeed& feed, std::span<Classifier* const> models, PhotoSink& sink,
                           const PipelineOptions& options);

}  // namespace binscan

// The photo pipeline (pipeline/run.h): feed order kept whatever the workers do, one decode per
// photo, per-photo failures handed to the sink, partial batches after a linger, stop, and
// errors of the whole run propagated without leaving threads behind.
#include "pipeline/run.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "image/encode.h"
#include "pipeline/photo.h"
#include "support/fake_classifier.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

// A small PNG whose colour depends on i, so each photo gets its own scores.
std::vector<std::uint8_t> png_bytes(int i) {
  Image img(5 + i % 3, 4);
  for (std::size_t k = 0; k < img.pixels.size(); ++k) {
    img.pixels[k] = static_cast<std::uint8_t>((i * 37 + static_cast<int>(k) * 11) % 256);
  }
  return encode_png(img);
}

PhotoInput memory_photo(int i) {
  PhotoInput in;
  in.name = "photo-" + std::to_string(i);
  in.bytes = png_bytes(i);
  return in;
}

std::vector<PhotoInput> memory_photos(int n) {
  std::vector<PhotoInput> out;
  for (int i = 0; i < n; ++i) out.push_back(memory_photo(i));
  return out;
}

// Records what reaches it, in order.
class RecordingSink : public PhotoSink {
 public:
  void finish(PhotoItem& item) override {
    std::lock_guard lock(mutex);
    order.push_back(item.input.name);
    unrun.push_back(item.input.name);
    states[item.input.name] = item.state;
    if (item.error) errors[item.input.name] = item.error->what();
  }
  void finish_batch(std::span<PhotoItem> items) override {
    std::lock_guard lock(mutex);
    batches.push_back(items.size());
    for (auto& item : items) {
      order.push_back(item.input.name);
      states[item.input.name] = item.state;
      for (const auto& run : item.runs) {
        if (run.result) {
          top1[item.input.name + "#" + std::to_string(run.model)] = run.result->top.front().label;
        } else if (run.error) {
          errors[item.input.name + "#" + std::to_string(run.model)] = run.error->what();
        }
      }
    }
    batch_seen.notify_all();
  }
  std::mutex mutex;
  std::condition_variable batch_seen;
  std::vector<std::string> order;
  std::vector<std::string> unrun;
  std::vector<std::size_t> batches;
  std::map<std::string, PhotoItem::State> states;
  std::map<std::string, std::string> top1;
  std::map<std::string, std::string> errors;
};

TEST(Pipeline, PhotosReachTheSinkInFeedOrderWhateverTheWorkers) {
  std::map<std::string, std::string> first;
  for (const int workers : {1, 2, 5}) {
    for (const int batch : {1, 3, 8}) {
      test::FakeClassifier model("fake/model", 10);
      ListFeed feed(memory_photos(23));
      RecordingSink sink;
      Classifier* const models[] = {&model};
      PipelineOptions o;
      o.workers = workers;
      o.batch = batch;
      const PipelineStats stats = run_pipeline(feed, models, sink, o);
      EXPECT_EQ(stats.fed, 23u);
      EXPECT_EQ(stats.finished, 23u);
      EXPECT_FALSE(stats.stopped);
      ASSERT_EQ(sink.order.size(), 23u);
      for (int i = 0; i < 23; ++i) EXPECT_EQ(sink.order[i], "photo-" + std::to_string(i));
      // Full batches, then the rest.
      for (std::size_t b = 0; b + 1 < sink.batches.size(); ++b) {
        EXPECT_EQ(sink.batches[b], static_cast<std::size_t>(batch));
      }
      EXPECT_EQ(model.prepared.load(), 23);  // decoded and prepared once each
      EXPECT_EQ(model.classified.load(), 23);
      if (first.empty()) first = sink.top1;
      EXPECT_EQ(sink.top1, first) << workers << " workers, batch " << batch;
    }
  }
}

TEST(Pipeline, OneBadPhotoCostsOnlyItself) {
  test::TempDir dir;
  std::vector<PhotoInput> photos;
  photos.push_back(memory_photo(0));
  PhotoInput garbage;
  garbage.name = "garbage";
  garbage.bytes = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  photos.push_back(garbage);
  PhotoInput missing;
  missing.name = "missing.jpg";
  missing.path = dir.path() / "missing.jpg";
  photos.push_back(missing);
  PhotoInput on_disk;
  on_disk.name = "on-disk.png";
  on_disk.path = dir.path() / "on-disk.png";
  const auto bytes = png_bytes(7);
  write_file_atomically(
      on_disk.path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  photos.push_back(on_disk);
  photos.push_back(memory_photo(1));

  test::FakeClassifier model("fake/model", 10);
  model.fail_names.insert("photo-1");  // the model fails on this one
  ListFeed feed(std::move(photos));
  RecordingSink sink;
  Classifier* const models[] = {&model};
  PipelineOptions o;
  o.batch = 8;
  run_pipeline(feed, models, sink, o);
  EXPECT_EQ(sink.states["garbage"], PhotoItem::State::kUndecodable);
  EXPECT_NE(sink.errors["garbage"].find("garbage"), std::string::npos) << sink.errors["garbage"];
  EXPECT_EQ(sink.states["missing.jpg"], PhotoItem::State::kUnreadable);
  EXPECT_NE(sink.errors["missing.jpg"].find("missing.jpg"), std::string::npos);
  EXPECT_EQ(sink.states["on-disk.png"], PhotoItem::State::kReady);
  EXPECT_TRUE(sink.top1.count("on-disk.png#0"));
  EXPECT_TRUE(sink.top1.count("photo-0#0"));
  EXPECT_FALSE(sink.top1.count("photo-1#0"));
  EXPECT_NE(sink.errors["photo-1#0"].find("fake failure"), std::string::npos);
  // The file read from disk scores as the same bytes given in memory.
  test::FakeClassifier again("fake/model", 10);
  std::vector<PhotoInput> same;
  PhotoInput in;
  in.name = "on-disk.png";
  in.bytes = bytes;
  same.push_back(in);
  ListFeed feed2(std::move(same));
  RecordingSink sink2;
  Classifier* const models2[] = {&again};
  run_pipeline(feed2, models2, sink2, o);
  EXPECT_EQ(sink2.top1["on-disk.png#0"], sink.top1["on-disk.png#0"]);
}

// Settles every third photo before reading, and narrows the others to model 1 after reading.
class NarrowingSink : public RecordingSink {
 public:
  void admit(PhotoItem& item) override {
    if (item.seq % 3 == 0) item.state = PhotoItem::State::kSettled;
  }
  void examine(PhotoItem& item, std::span<const std::uint8_t> bytes) override {
    EXPECT_FALSE(bytes.empty());
    item.wanted = {1};
  }
};

TEST(Pipeline, TheSinkDecidesWhatEachPhotoNeeds) {
  test::FakeClassifier a("fake/a", 10);
  test::FakeClassifier b("fake/b", 10);
  ListFeed feed(memory_photos(9));
  NarrowingSink sink;
  Classifier* const models[] = {&a, &b};
  PipelineOptions o;
  o.batch = 2;
  run_pipeline(feed, models, sink, o);
  EXPECT_EQ(a.prepared.load(), 0);
  EXPECT_EQ(b.prepared.load(), 6);
  EXPECT_EQ(b.classified.load(), 6);
  EXPECT_EQ(sink.unrun, (std::vector<std::string>{"photo-0", "photo-3", "photo-6"}));
  for (int i = 0; i < 9; ++i) {
    const std::string name = "photo-" + std::to_string(i);
    EXPECT_EQ(sink.states[name],
              i % 3 == 0 ? PhotoItem::State::kSettled : PhotoItem::State::kReady);
    EXPECT_FALSE(sink.top1.count(name + "#0"));
    EXPECT_EQ(sink.top1.count(name + "#1"), i % 3 == 0 ? 0u : 1u);
  }
}

// A feed like a server's: two photos, then nothing until the sink has run them.
class WaitingFeed : public PhotoFeed {
 public:
  explicit WaitingFeed(RecordingSink& sink) : sink_(sink) {}
  std::optional<PhotoInput> next() override {
    if (given_ < 2) return memory_photo(given_++);
    std::unique_lock lock(sink_.mutex);
    ran_early = sink_.batch_seen.wait_for(lock, std::chrono::seconds(20),
                                          [&] { return !sink_.batches.empty(); });
    return std::nullopt;
  }
  bool ran_early = false;

 private:
  RecordingSink& sink_;
  int given_ = 0;
};

TEST(Pipeline, APartialBatchRunsAfterTheLinger) {
  test::FakeClassifier model("fake/model", 10);
  RecordingSink sink;
  WaitingFeed feed(sink);
  Classifier* const models[] = {&model};
  PipelineOptions o;
  o.batch = 8;
  o.workers = 1;
  o.linger = std::chrono::milliseconds(5);
  run_pipeline(feed, models, sink, o);
  EXPECT_TRUE(feed.ran_early);
  EXPECT_EQ(sink.batches, (std::vector<std::size_t>{2}));
}

// Sets the stop flag once the first batch is in.
class StoppingSink : public RecordingSink {
 public:
  explicit StoppingSink(std::atomic<bool>& stop) : stop_(stop) {}
  void finish_batch(std::span<PhotoItem> items) override {
    RecordingSink::finish_batch(items);
    stop_ = true;
  }

 private:
  std::atomic<bool>& stop_;
};

TEST(Pipeline, StopEndsTheRunAfterTheBatchInFlight) {
  test::FakeClassifier model("fake/model", 10);
  std::atomic<bool> stop{false};
  StoppingSink sink(stop);
  ListFeed feed(memory_photos(40));
  Classifier* const models[] = {&model};
  PipelineOptions o;
  o.batch = 4;
  o.stop = &stop;
  const PipelineStats stats = run_pipeline(feed, models, sink, o);
  EXPECT_TRUE(stats.stopped);
  EXPECT_EQ(sink.batches, (std::vector<std::size_t>{4}));
  EXPECT_EQ(stats.finished, 4u);
  EXPECT_LT(stats.fed, 40u);
}

class ThrowingClassifier : public test::FakeClassifier {
 public:
  ThrowingClassifier() : FakeClassifier("fake/throws", 10) {}
  std::vector<ClassifyOutcome> run(std::span<const PreparedInput>, int) override {
    throw Error(ErrorKind::kInternal, "fake/throws", "engine broke");
  }
};

TEST(Pipeline, AnErrorOfTheWholeRunPropagatesAndStopsTheWorkers) {
  ThrowingClassifier model;
  RecordingSink sink;
  ListFeed feed(memory_photos(50));
  Classifier* const models[] = {&model};
  PipelineOptions o;
  o.batch = 2;
  o.workers = 3;
  EXPECT_THROW(run_pipeline(feed, models, sink, o), Error);
  EXPECT_TRUE(sink.batches.empty());
  EXPECT_LT(model.prepared.load(), 50);  // the workers stopped within the window
}

// Counts the moments a model runs while a worker prepares a photo: both sides stay in their
// section for a few milliseconds, so overlapping sections would be seen.
struct OverlapProbe {
  std::atomic<int> preparing{0};
  std::atomic<int> overlaps{0};
};

class ProbingSink : public RecordingSink {
 public:
  explicit ProbingSink(OverlapProbe& probe) : probe_(probe) {}
  void prepared(PhotoItem& item) override {
    ++probe_.preparing;
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    --probe_.preparing;
    RecordingSink::prepared(item);
  }

 private:
  OverlapProbe& probe_;
};

class ProbingClassifier : public test::FakeClassifier {
 public:
  explicit ProbingClassifier(OverlapProbe& probe)
      : FakeClassifier("fake/probe", 10), probe_(probe) {}
  std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int top_k) override {
    for (int i = 0; i < 3; ++i) {
      if (probe_.preparing.load() > 0) ++probe_.overlaps;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return FakeClassifier::run(inputs, top_k);
  }

 private:
  OverlapProbe& probe_;
};

int overlaps_with(bool one_core, int workers) {
  OverlapProbe probe;
  ProbingClassifier model(probe);
  ProbingSink sink(probe);
  ListFeed feed(memory_photos(40));
  Classifier* const models[] = {&model};
  PipelineOptions o;
  o.batch = 2;
  o.workers = workers;
  o.one_core = one_core;
  const PipelineStats stats = run_pipeline(feed, models, sink, o);
  EXPECT_EQ(stats.finished, 40u);
  EXPECT_EQ(model.classified.load(), 40);
  return probe.overlaps.load();
}

// --threads 1 (one_core): workers and the model take turns, so a process stays on one core.
TEST(Pipeline, OneCoreTakesTurnsBetweenPreparingAndTheModel) {
  EXPECT_EQ(overlaps_with(true, 1), 0);
  EXPECT_EQ(overlaps_with(true, 2), 0);
  // The probe sees overlap when it happens: without one_core two workers prepare ahead while
  // the model runs its 20 batches.
  EXPECT_GT(overlaps_with(false, 2), 0);
}

// --fast-decode: one decode serves every model, so it is as large as the most demanding one
// needs (the largest need wins); without the option, or when a model takes no reduced size, the
// decode is exact.
TEST(PreparePhoto, FastDecodeTakesTheScaleEveryModelAccepts) {
  // Stored 4032x3024 with EXIF orientation 6: shown 3024 wide, 4032 high.
  const auto bytes = read_file(test::photos_dir() / "bike" / "20220119_175431.jpg");
  test::FakeClassifier small("small", 3), large("large", 3), exact("exact", 3);
  small.reduced = [](int w, int h) { return w >= 224 && h >= 224; };
  large.reduced = [](int w, int h) { return w >= 1000 && h >= 1000; };
  const auto scale = [&](std::vector<const Classifier*> models, bool fast) {
    const PreparedPhoto p =
        prepare_photo(bytes, "bike.jpg", models, PrepareOptions{.fast_decode = fast, .tiles = {}});
    EXPECT_FALSE(p.error);
    EXPECT_EQ(p.models.size(), models.size());
    return p.decoded ? p.decoded->scale_denominator : 0;
  };
  EXPECT_EQ(scale({&small}, true), 8);          // 378x504 shown
  EXPECT_EQ(scale({&large}, true), 2);          // 1512x2016 (1/4 is 756 wide)
  EXPECT_EQ(scale({&small, &large}, true), 2);  // the larger need wins
  EXPECT_EQ(scale({&small, &exact}, true), 1);  // a model without reduced sizes: exact
  EXPECT_EQ(scale({&small, &large}, false), 1);
}

}  // namespace
}  // namespace binscan

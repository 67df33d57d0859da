// InferenceService (serve/service.h): replies equal to the model's own results, requests that
// arrive together run as one batch, a full queue refuses at once, close() answers everything in
// flight, and bad images or failing models cost only their own request.
#include "serve/service.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "image/encode.h"
#include "support/fake_classifier.h"

namespace binscan::serve {
namespace {

using namespace std::chrono_literals;

std::vector<std::uint8_t> png_bytes(int i) {
  Image img(6 + i % 4, 5);
  for (std::size_t k = 0; k < img.pixels.size(); ++k) {
    img.pixels[k] = static_cast<std::uint8_t>((i * 53 + static_cast<int>(k) * 7) % 256);
  }
  return encode_png(img);
}

// What the model itself says of the image, without the service.
Classification direct(test::FakeClassifier& model, const std::vector<std::uint8_t>& bytes) {
  const DecodedImage decoded = decode_image(bytes, "x");
  ClassifyInput in;
  in.name = "x";
  in.file_bytes = bytes;
  in.decoded = &decoded;
  const PreparedInput p = model.prepare(in);
  auto out = model.run(std::span(&p, 1), 10);
  return *out.at(0).result;
}

// A fake whose run() waits until the gate opens, and which records its batch sizes.
class GatedClassifier : public test::FakeClassifier {
 public:
  GatedClassifier() : FakeClassifier("gated", 10) {}
  std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int top_k) override {
    {
      std::unique_lock lock(mutex_);
      batches_.push_back(static_cast<int>(inputs.size()));
      ++entered_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return open_; });
    }
    return FakeClassifier::run(inputs, top_k);
  }
  void wait_entered(int n) {
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(changed_.wait_for(lock, 10s, [&] { return entered_ >= n; }));
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  std::vector<int> batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<int> batches_;
  int entered_ = 0;
  bool open_ = false;
};

ServedModel served(Classifier& c) {
  ServedModel m;
  m.classifier = &c;
  m.name = c.info().id;
  BinLabels bins;
  bins.class_ids = {3};
  bins.labels = {"label 3"};
  m.bins = bins;
  return m;
}

InferenceRequest request_for(int model, std::vector<std::uint8_t> image, int top_k = 5) {
  InferenceRequest r;
  r.model = model;
  r.image = std::move(image);
  r.top_k = top_k;
  return r;
}

TEST(InferenceService, RepliesAreTheModelsOwnResults) {
  test::FakeClassifier a("a", 10), b("b", 7);
  a.salt_ = 0.3;
  InferenceService service({served(a), served(b)}, {});
  EXPECT_EQ(service.find_model("b"), 1);
  EXPECT_FALSE(service.find_model("c").has_value());
  std::vector<std::future<InferenceReply>> futures;
  for (int i = 0; i < 12; ++i) {
    auto f = service.submit(request_for(i % 2, png_bytes(i), 1 + i % 6));
    ASSERT_TRUE(f.has_value());
    futures.push_back(std::move(*f));
  }
  for (int i = 0; i < 12; ++i) {
    const InferenceReply reply = futures[static_cast<std::size_t>(i)].get();
    ASSERT_EQ(reply.status, InferenceReply::Status::kOk) << reply.error;
    const Classification want = direct(i % 2 ? b : a, png_bytes(i));
    ASSERT_EQ(reply.top.size(), static_cast<std::size_t>(1 + i % 6)) << i;
    for (std::size_t k = 0; k < reply.top.size(); ++k) {
      EXPECT_EQ(reply.top[k].label, want.top[k].label) << i;
      EXPECT_EQ(reply.top[k].score, want.top[k].score) << i;
    }
    ASSERT_TRUE(reply.bin.has_value());
    EXPECT_EQ(reply.bin->score, want.probabilities[3]);
    ASSERT_TRUE(reply.photo.has_value());
    EXPECT_EQ(reply.photo->format, ImageFormat::kPng);
    EXPECT_EQ(reply.photo->display_width(), 6 + i % 4);
  }
  EXPECT_EQ(service.pending(), 0);
}

TEST(InferenceService, BadImagesAndFailuresCostOnlyTheirRequest) {
  test::FakeClassifier a("a", 10);
  a.fail_names = {"request 2"};  // the second request's name
  InferenceService service({served(a)}, {});
  auto ok1 = service.submit(request_for(0, png_bytes(1)));
  auto failing = service.submit(request_for(0, png_bytes(2)));
  auto garbage = service.submit(request_for(0, {'n', 'o', 'p', 'e'}));
  InferenceRequest logits = request_for(0, png_bytes(3));
  logits.function = ScoreFunction::kNone;  // the fake gives probabilities only
  auto no_logits = service.submit(std::move(logits));
  auto ok2 = service.submit(request_for(0, png_bytes(4)));
  EXPECT_EQ(ok1->get().status, InferenceReply::Status::kOk);
  const auto f = failing->get();
  EXPECT_EQ(f.status, InferenceReply::Status::kFailed);
  EXPECT_NE(f.error.find("fake failure"), std::string::npos) << f.error;
  const auto g = garbage->get();
  EXPECT_EQ(g.status, InferenceReply::Status::kBadImage);
  EXPECT_NE(g.error.find("not a JPEG, PNG or WebP"), std::string::npos) << g.error;
  EXPECT_EQ(no_logits->get().status, InferenceReply::Status::kBadImage);
  EXPECT_EQ(ok2->get().status, InferenceReply::Status::kOk);
}

TEST(InferenceService, WaitingRequestsRunAsOneBatchAndAFullQueueRefuses) {
  GatedClassifier gated;
  ServiceOptions o;
  o.batch = 4;
  o.max_pending = 6;
  // Long enough that the four waiting requests, decoded while the model held the first, are all
  // in the window when it opens: the batch is full before the linger could cut it short.
  o.linger = 500ms;
  InferenceService service({served(gated)}, o);
  std::vector<std::future<InferenceReply>> futures;
  futures.push_back(std::move(*service.submit(request_for(0, png_bytes(0)))));
  gated.wait_entered(1);  // the first request is in the model, which holds it
  for (int i = 1; i < 6; ++i) {
    auto f = service.submit(request_for(0, png_bytes(i)));
    ASSERT_TRUE(f.has_value()) << i;
    futures.push_back(std::move(*f));
  }
  EXPECT_EQ(service.pending(), 6);
  EXPECT_FALSE(service.submit(request_for(0, png_bytes(9))).has_value());  // 503, at once
  gated.open();
  for (auto& f : futures) EXPECT_EQ(f.get().status, InferenceReply::Status::kOk);
  const auto batches = gated.batches();
  ASSERT_GE(batches.size(), 2u);
  EXPECT_EQ(batches[0], 1);
  EXPECT_EQ(batches[1], 4);  // the four that waited together, a full batch
  int total = 0;
  for (int b : batches) total += b;
  EXPECT_EQ(total, 6);
  // Room again once answered.
  auto again = service.submit(request_for(0, png_bytes(7)));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->get().status, InferenceReply::Status::kOk);
}

TEST(InferenceService, CloseAnswersEveryRequestInFlight) {
  GatedClassifier gated;
  ServiceOptions o;
  o.batch = 2;
  InferenceService service({served(gated)}, o);
  std::vector<std::future<InferenceReply>> futures;
  for (int i = 0; i < 5; ++i)
    futures.push_back(std::move(*service.submit(request_for(0, png_bytes(i)))));
  gated.wait_entered(1);
  std::thread closer([&] { service.close(); });
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(service.submit(request_for(0, png_bytes(8))).has_value());  // closing: no more
  gated.open();
  closer.join();
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(0s), std::future_status::ready);
    EXPECT_EQ(f.get().status, InferenceReply::Status::kOk);
  }
}

// One request alone does not wait out the linger: nothing else is queued or being decoded, so
// its batch of one runs at once.
TEST(InferenceService, ALoneRequestDoesNotWaitForTheLinger) {
  test::FakeClassifier a("a", 10);
  ServiceOptions o;
  o.linger = std::chrono::milliseconds(3000);
  InferenceService service({served(a)}, o);
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const InferenceReply r = service.submit(request_for(0, png_bytes(i)))->get();
    EXPECT_EQ(r.status, InferenceReply::Status::kOk);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms) << "request " << i << " lingered";
  }
}

TEST(InferenceService, ModelViewUndoesTheNormalisation) {
  // 2x1 image, planes R, G, B; mean 0.5 and std 0.5 map [-1, 1] to [0, 255].
  const std::vector<float> px = {-1.0f, 1.0f, 0.0f, 3.0f, -5.0f, 0.2f};
  const Image view = model_view(px, 1, 2, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f});
  ASSERT_EQ(view.width, 2);
  ASSERT_EQ(view.height, 1);
  EXPECT_EQ(view.pixels, (std::vector<std::uint8_t>{0, 128, 0, 255, 255, 153}));
  EXPECT_EQ(model_view(px, 2, 2, {}, {}).width, 0);  // too few values: no picture
}

}  // namespace
}  // namespace binscan::serve

// Part of the serve layer (see serve/api.h).
//
// InferenceService: the models a server has loaded, and one photo pipeline (pipeline/run.h) fed
// by the requests. Request handlers, on the HTTP server's threads, submit() an image and wait
// for its reply; the pipeline's workers decode and prepare the images concurrently, and its
// thread runs each model on batches of whatever requests are waiting (up to `batch`, after at
// most `linger` for more to arrive). A bounded number of requests may be pending: beyond it,
// submit() refuses at once, which the server turns into 503 + Retry-After (back-pressure
// instead of an unbounded queue and ever longer waits).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "analysis/verdict.h"
#include "classify/classifier.h"
#include "classify/local_classifier.h"
#include "classify/postprocess.h"
#include "image/decode.h"

namespace binscan::serve {

struct ServedModel {
  Classifier* classifier = nullptr;  // not owned; run() is called from the pipeline's thread only
  std::string name;                  // the URL's model id (see served_name)
  // The normalisation the model's preprocessing applied, to draw what the model sees; nullopt
  // when its inputs are not pictures (a remote model).
  std::optional<std::array<float, 3>> image_mean, image_std;
  // For the bin score and verdict; nullopt when the model has none of the bin labels.
  std::optional<BinLabels> bins;
  // A zero-shot (CLIP) model: each request brings its candidate labels. The pipeline then runs
  // its image tower only and the request's labels are applied to the image embedding, with text
  // embeddings kept per label set. Its bin labels are resolved per request from these specs
  // (--bin-label; none: the labels that are not a "no bin" description).
  // When the specs are shared with classifiers (bin_specs_shared), a request's bin labels are only
  // the specs naming one of its candidate labels (none: the default), as binscan scan splits them.
  LocalClassifier* zero_shot = nullptr;  // not owned; the same model as `classifier`
  std::vector<std::string> bin_label_specs;
  bool bin_specs_shared = false;
};

struct ServiceOptions {
  int batch = 8;         // images per model run
  int workers = 2;       // decode + prepare threads
  int max_pending = 64;  // requests accepted and not yet answered; more are refused
  std::chrono::milliseconds linger{5};
  double threshold = kDefaultBinThreshold;
  bool fast_decode = false;  // JPEGs decoded at a reduced DCT scale (pipeline/run.h)
};

struct InferenceRequest {
  int model = 0;  // index into the service's models
  std::vector<std::uint8_t> image;
  int top_k = 5;
  std::optional<ScoreFunction> function;  // nullopt: the model's default
  bool want_view = false;                 // draw what the model sees (PNG)
  // Zero-shot models: the request's candidate labels and hypothesis template; top_k cuts the
  // list only when the request gave one (the pipeline lists every label).
  std::vector<std::string> candidate_labels;
  std::string hypothesis_template = std::string(kDefaultHypothesisTemplate);
  bool top_k_given = false;
};

struct InferenceReply {
  enum class Status {
    kOk,
    kBadImage,  // not an image binscan can decode, or one the model cannot take (400)
    kFailed,    // the model failed (500)
  };
  Status status = Status::kOk;
  std::string error;                    // one line, when not kOk
  std::vector<Prediction> top;          // best first
  std::optional<BinVerdict> bin;        // from every class's probability, when the model has bins
  std::vector<std::string> bin_labels;  // the labels `bin` counts
  std::optional<DecodedImage> photo;    // format, size and EXIF (no pixels)
  std::vector<std::uint8_t> view_png;   // what the model sees, when asked
  double ms = 0;                        // from submit() to the reply
};

class InferenceService {
 public:
  InferenceService(std::vector<ServedModel> models, const ServiceOptions& options);
  // close()s.
  ~InferenceService();
  InferenceService(const InferenceService&) = delete;
  InferenceService& operator=(const InferenceService&) = delete;

  const std::vector<ServedModel>& models() const { return models_; }
  // The model served as `name`, or nullopt.
  std::optional<int> find_model(std::string_view name) const;

  // The reply to come; nullopt when max_pending requests are already waiting, or after close().
  std::optional<std::future<InferenceReply>> submit(InferenceRequest request);

  // No new requests; every accepted one is answered; returns once the pipeline has ended.
  void close();

  int pending() const;

 private:
  class Feed;
  class Sink;
  struct Waiting {
    InferenceRequest request;
    std::promise<InferenceReply> promise;
    std::chrono::steady_clock::time_point since;
  };
  void run();
  // Hands the reply to the request `ticket` and forgets it.
  void answer(std::uint64_t ticket, InferenceReply reply);
  // The request's model and options (the pipeline's workers and thread ask).
  const InferenceRequest& request(std::uint64_t ticket) const;

  std::vector<ServedModel> models_;
  // What the pipeline runs for each model: its classifier, or for a zero-shot model an adapter
  // that gives the image embedding (owned here).
  std::vector<std::unique_ptr<Classifier>> adapters_;
  ServiceOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::map<std::uint64_t, Waiting> waiting_;  // accepted, not answered
  std::deque<std::uint64_t> queue_;           // accepted, not yet taken by the pipeline
  std::uint64_t next_ticket_ = 1;
  bool closed_ = false;
  std::string failure_;  // set when the pipeline ended with an error
  std::unique_ptr<Feed> feed_;
  std::unique_ptr<Sink> sink_;
  std::thread thread_;
};

// `pixel_values` [3, H, W] as the model sees them, back in 0..255 RGB (x * std + mean).
Image model_view(std::span<const float> pixel_values, int height, int width,
                 const std::array<float, 3>& mean, const std::array<float, 3>& std);

}  // namespace binscan::serve

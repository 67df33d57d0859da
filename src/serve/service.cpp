#include "serve/service.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "image/encode.h"
#include "pipeline/run.h"
#include "util/error.h"

namespace binscan::serve {
namespace {

using Clock = std::chrono::steady_clock;

// The request's top-k under its function_to_apply: from the logits when it asks for another
// function than the model's default, else from the probabilities the pipeline computed.
std::optional<std::vector<Prediction>> rank(const Classification& c, const InferenceRequest& r,
                                            const ModelInfo& info) {
  if (r.function && !c.logits.empty()) {
    return top_predictions(class_scores(c.logits, *r.function), info.labels, r.top_k);
  }
  if (r.function) return std::nullopt;  // a model that gives no logits
  if (!c.probabilities.empty()) return top_predictions(c.probabilities, info.labels, r.top_k);
  std::vector<Prediction> top = c.top;
  if (top.size() > static_cast<std::size_t>(r.top_k)) top.resize(static_cast<std::size_t>(r.top_k));
  return top;
}

// A zero-shot model as the pipeline runs it for serve: prepare() as the model, run() gives each
// image's embedding (in Classification::logits); the request's labels are applied afterwards.
class ImageEmbedder final : public Classifier {
 public:
  explicit ImageEmbedder(LocalClassifier& model) : model_(model) {}
  const ModelInfo& info() const override { return model_.info(); }
  PreparedInput prepare(const ClassifyInput& input) const override { return model_.prepare(input); }
  bool accepts_reduced(int w, int h) const override { return model_.accepts_reduced(w, h); }
  std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int) override {
    std::vector<ClassifyOutcome> out(inputs.size());
    try {
      const Tensor embeds = model_.image_embeds(inputs);
      const auto dim = static_cast<std::size_t>(embeds.shape.at(1));
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        Classification c;
        c.logits.assign(embeds.data.begin() + static_cast<std::ptrdiff_t>(i * dim),
                        embeds.data.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
        out[i].result = std::move(c);
      }
    } catch (const Error& e) {
      for (auto& o : out) o.error = e;
    }
    return out;
  }

 private:
  LocalClassifier& model_;
};

// The request's candidate labels applied to the image embedding, its bin labels resolved from
// the model's specs (none that fit: no verdict).
void answer_zero_shot(const ServedModel& m, const InferenceRequest& r, const Classification& embed,
                      double threshold, InferenceReply& reply) {
  const int all = static_cast<int>(r.candidate_labels.size());
  const Classification c = m.zero_shot->zero_shot(
      embed.logits, r.candidate_labels, r.hypothesis_template, r.top_k_given ? r.top_k : all);
  reply.top = c.top;
  ModelInfo info = m.zero_shot->info();
  info.labels = r.candidate_labels;
  try {
    const BinLabels bins =
        resolve_bin_labels(m.bin_specs_shared ? bin_specs_for(info, m.bin_label_specs, std::nullopt)
                                              : m.bin_label_specs,
                           info);
    reply.bin = judge_bins(c, bins, threshold);
    reply.bin_labels = bins.labels;
  } catch (const Error&) {
    // Every label reads as "no bin", or --bin-label names none of them: no verdict.
  }
}

}  // namespace

Image model_view(std::span<const float> pixel_values, int height, int width,
                 const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  Image out(width, height);
  const auto plane = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  if (pixel_values.size() < 3 * plane) return Image{};
  for (std::size_t i = 0; i < plane; ++i) {
    for (std::size_t c = 0; c < 3; ++c) {
      // pixel_values = (x / 255 - mean) / std, so x = (v * std + mean) * 255.
      const double x = (pixel_values[c * plane + i] * std[c] + mean[c]) * 255.0;
      out.pixels[i * 3 + c] = static_cast<std::uint8_t>(std::clamp(std::lround(x), 0L, 255L));
    }
  }
  return out;
}

// The requests, in the order they were accepted; blocks while there are none.
class InferenceService::Feed : public PhotoFeed {
 public:
  explicit Feed(InferenceService& service) : service_(service) {}
  std::optional<PhotoInput> next() override {
    std::unique_lock lock(service_.mutex_);
    service_.arrived_.wait(lock, [&] { return service_.closed_ || !service_.queue_.empty(); });
    if (service_.queue_.empty()) return std::nullopt;  // closed, and every request taken
    const std::uint64_t ticket = service_.queue_.front();
    service_.queue_.pop_front();
    PhotoInput input;
    input.name = "request " + std::to_string(ticket);
    input.ticket = ticket;
    input.bytes = std::move(service_.waiting_.at(ticket).request.image);
    return input;
  }
  // No request queued: the batch in hand need not wait for more.
  bool idle() const override {
    std::lock_guard lock(service_.mutex_);
    return service_.queue_.empty();
  }

 private:
  InferenceService& service_;
};

// Turns what the pipeline made of each request into its reply.
class InferenceService::Sink : public PhotoSink {
 public:
  explicit Sink(InferenceService& service) : service_(service) {}

  void admit(PhotoItem& item) override {
    item.wanted = {service_.request(item.input.ticket).model};
  }

  void prepared(PhotoItem& item) override {
    const InferenceRequest& r = service_.request(item.input.ticket);
    const ServedModel& m = service_.models_.at(static_cast<std::size_t>(r.model));
    if (!r.want_view || !m.image_mean || !m.image_std || item.runs.empty()) return;
    const auto& input = item.runs.front().input;
    if (!input || input->pixel_values.empty()) return;
    const Image view =
        model_view(input->pixel_values, input->height, input->width, *m.image_mean, *m.image_std);
    if (view.width > 0) item.tag = encode_png(view);
  }

  void finish(PhotoItem& item) override {
    InferenceReply reply;
    reply.status = InferenceReply::Status::kBadImage;
    if (item.error) {
      reply.error = item.error->cause();
    } else if (!item.runs.empty() && item.runs.front().error) {
      reply.error = item.runs.front().error->cause();
    } else {
      reply.error = "the image could not be prepared for the model";
    }
    reply.photo = std::move(item.decoded);
    service_.answer(item.input.ticket, std::move(reply));
  }

  void finish_batch(std::span<PhotoItem> items) override {
    for (auto& item : items) {
      const InferenceRequest& r = service_.request(item.input.ticket);
      const ServedModel& m = service_.models_.at(static_cast<std::size_t>(r.model));
      const ModelRun& run = item.runs.front();
      InferenceReply reply;
      reply.photo = std::move(item.decoded);
      if (auto* png = std::any_cast<std::vector<std::uint8_t>>(&item.tag)) {
        reply.view_png = std::move(*png);
      }
      if (run.result && m.zero_shot) {
        try {
          answer_zero_shot(m, r, *run.result, service_.options_.threshold, reply);
        } catch (const Error& e) {
          reply.status = InferenceReply::Status::kFailed;
          reply.error = e.cause();
        }
      } else if (run.result) {
        auto top = rank(*run.result, r, m.classifier->info());
        if (top) {
          reply.top = std::move(*top);
          if (m.bins) {
            reply.bin = judge_bins(*run.result, *m.bins, service_.options_.threshold);
            reply.bin_labels = m.bins->labels;
          }
        } else {
          reply.status = InferenceReply::Status::kBadImage;
          reply.error = "this model gives no logits, so function_to_apply cannot be changed";
        }
      } else {
        reply.status = InferenceReply::Status::kFailed;
        reply.error = run.error ? run.error->cause() : "the model gave no result";
      }
      service_.answer(item.input.ticket, std::move(reply));
    }
  }

 private:
  InferenceService& service_;
};

InferenceService::InferenceService(std::vector<ServedModel> models, const ServiceOptions& options)
    : models_(std::move(models)), options_(options) {
  for (const auto& m : models_) {
    adapters_.push_back(m.zero_shot ? std::make_unique<ImageEmbedder>(*m.zero_shot) : nullptr);
  }
  feed_ = std::make_unique<Feed>(*this);
  sink_ = std::make_unique<Sink>(*this);
  thread_ = std::thread([this] { run(); });
}

InferenceService::~InferenceService() { close(); }

std::optional<int> InferenceService::find_model(std::string_view name) const {
  for (std::size_t i = 0; i < models_.size(); ++i) {
    if (models_[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::optional<std::future<InferenceReply>> InferenceService::submit(InferenceRequest request) {
  if (request.model < 0 || static_cast<std::size_t>(request.model) >= models_.size()) {
    throw Error(ErrorKind::kInternal, "", "submit: no such model");
  }
  std::unique_lock lock(mutex_);
  if (closed_ || waiting_.size() >= static_cast<std::size_t>(std::max(1, options_.max_pending))) {
    return std::nullopt;
  }
  const std::uint64_t ticket = next_ticket_++;
  Waiting& w = waiting_[ticket];
  w.request = std::move(request);
  w.since = Clock::now();
  auto future = w.promise.get_future();
  queue_.push_back(ticket);
  lock.unlock();
  arrived_.notify_one();
  return future;
}

void InferenceService::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  arrived_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int InferenceService::pending() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(waiting_.size());
}

const InferenceRequest& InferenceService::request(std::uint64_t ticket) const {
  // A map's elements stay where they are while others come and go; only answer() erases this one.
  std::lock_guard lock(mutex_);
  return waiting_.at(ticket).request;
}

void InferenceService::answer(std::uint64_t ticket, InferenceReply reply) {
  std::unique_lock lock(mutex_);
  const auto it = waiting_.find(ticket);
  if (it == waiting_.end()) return;
  Waiting w = std::move(it->second);
  waiting_.erase(it);
  lock.unlock();
  reply.ms = std::chrono::duration<double, std::milli>(Clock::now() - w.since).count();
  w.promise.set_value(std::move(reply));
}

void InferenceService::run() {
  std::vector<Classifier*> classifiers;
  for (std::size_t i = 0; i < models_.size(); ++i)
    classifiers.push_back(adapters_[i] ? adapters_[i].get() : models_[i].classifier);
  PipelineOptions po;
  po.batch = std::max(1, options_.batch);
  po.workers = std::max(1, options_.workers);
  po.top_k = 5;
  po.linger = options_.linger;
  po.fast_decode = options_.fast_decode;
  std::string failure;
  try {
    run_pipeline(*feed_, classifiers, *sink_, po);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // Whatever is still waiting (only after a failure) is answered, never left hanging.
  std::map<std::uint64_t, Waiting> left;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    failure_ = failure;
    left.swap(waiting_);
    queue_.clear();
  }
  for (auto& [ticket, w] : left) {
    InferenceReply reply;
    reply.status = InferenceReply::Status::kFailed;
    reply.error = "the server stopped running models" + (failure.empty() ? "" : ": " + failure);
    w.promise.set_value(std::move(reply));
  }
}

}  // namespace binscan::serve

#include "classify/local_classifier.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <thread>

#include "classify/postprocess.h"
#include "text/clip_tokenizer.h"
#include "util/error.h"
#include "util/threads.h"

namespace binscan {

namespace {

// Label sets whose text embeddings a zero-shot classifier keeps (serve: one per distinct request).
constexpr std::size_t kTextCacheSize = 64;

// The candidate labels' text embeddings: each label put in the template, padded to the longest
// as the pipeline does (padding=True); a text longer than the context is cut to it, ending with
// the end-of-text token (transformers would refuse it).
Tensor label_embeds(ClipEngine& clip, const ClipTokenizer& tokenizer,
                    const std::vector<std::string>& labels,
                    const std::string& hypothesis_template) {
  std::vector<std::string> texts;
  for (const auto& label : labels) texts.push_back(format_hypothesis(hypothesis_template, label));
  return clip.text_embeds(tokenizer.encode_batch(texts, clip.context_length()).ids);
}

}  // namespace

LocalClassifier::LocalClassifier(Checkpoint checkpoint, const LocalOptions& options)
    : config_(checkpoint.config),
      processor_(checkpoint.processor),
      max_batch_(std::max(1, options.max_batch)) {
  EngineOptions engine_options;
  engine_options.threads = options.threads;
  engine_options.precision = options.precision;
  engine_options.ranges = options.ranges;
  if (config_.is_clip()) {
    const std::string where = checkpoint.dir.string();
    if (options.candidate_labels.empty() && !options.labels_per_use)
      throw Error(ErrorKind::kConfig, where,
                  "a zero-shot (CLIP) model needs candidate labels: give --label TEXT "
                  "(repeatable) or --labels-file FILE");
    if (!ClipTokenizer::dir_has_tokenizer(checkpoint.dir))
      throw Error(ErrorKind::kIo, where,
                  "no tokenizer beside the model (vocab.json + merges.txt or tokenizer.json)");
    tokenizer_ = std::make_shared<const ClipTokenizer>(ClipTokenizer::from_dir(checkpoint.dir));
    clip_ = create_clip_engine(checkpoint, engine_options);
    // The text embeddings once, for every photo.
    if (!options.candidate_labels.empty())
      engine_ = make_zero_shot_engine(
          clip_,
          label_embeds(*clip_, *tokenizer_, options.candidate_labels, options.hypothesis_template));
    config_.id2label = options.candidate_labels;
    config_.problem_type = ProblemType::kSingleLabel;  // the pipeline's softmax
    info_.zero_shot = true;
    info_.hypothesis_template = options.hypothesis_template;
  } else {
    if (!options.candidate_labels.empty() && !options.labels_for_zero_shot_only)
      throw Error(ErrorKind::kConfig, checkpoint.dir.string(),
                  "candidate labels (--label, --labels-file) are for zero-shot (CLIP) models; "
                  "this " +
                      config_.architecture + " has its own labels");
    const int replicas = std::max(1, options.replicas);
    if (replicas > 1)
      engine_options.threads = std::max(1, resolve_thread_count(options.threads) / replicas);
    engine_ = create_engine(checkpoint, engine_options);
    for (int r = 1; r < replicas; ++r)
      replicas_.push_back(create_engine(checkpoint, engine_options));
  }
  info_.id = options.model_id.empty() ? checkpoint.dir.string() : options.model_id;
  info_.revision = options.revision;
  info_.labels = config_.id2label;
  info_.remote = false;
  info_.precision = std::string(precision_name(options.precision));
  if (processor_.config().do_resize) {
    // Any input size gives the same output size; ask for it once.
    const auto [h, w] = processor_.output_size(1000, 750);
    height_ = h;
    width_ = w;
  }
  // `checkpoint` (and its mapping of the weights) is released when the constructor returns.
}

LocalClassifier::~LocalClassifier() = default;

PreparedInput LocalClassifier::prepare(const ClassifyInput& input) const {
  if (input.decoded == nullptr)
    throw Error(ErrorKind::kInternal, input.name, "no decoded image for the local classifier");
  PreparedInput out;
  out.name = input.name;
  // Read through the EXIF orientation when the photo is as stored: no rotated copy of it first.
  const Image prepared =
      processor_.prepare_oriented(input.decoded->image, input.decoded->pending_orientation());
  out.height = prepared.height;
  out.width = prepared.width;
  out.decode_scale = input.decoded->scale_denominator;
  out.pixel_values.resize(static_cast<std::size_t>(3) * static_cast<std::size_t>(prepared.width) *
                          static_cast<std::size_t>(prepared.height));
  processor_.to_pixel_values(prepared, out.pixel_values.data());
  return out;
}

Tensor LocalClassifier::forward(const Tensor& pixel_values) {
  if (!engine_) return clip_->image_embeds(pixel_values);
  return engine_->forward(pixel_values);
}

Tensor LocalClassifier::logits(std::span<const PreparedInput> inputs) {
  if (!engine_)
    throw Error(ErrorKind::kConfig, info_.id,
                "a zero-shot (CLIP) model needs candidate labels: give --label TEXT (repeatable) "
                "or --labels-file FILE");
  const std::int64_t labels = config_.num_labels();
  const std::size_t parts = std::min(1 + replicas_.size(), inputs.size());
  if (parts <= 1)
    return batched(inputs, labels, [&](const Tensor& batch) { return engine_->forward(batch); });
  // Why copies rather than one engine on every thread: oneDNN's threads meet at a barrier after
  // every primitive (hundreds per batch) and spin there, so when decoding threads share the cores
  // the engine loses whole time slices waiting for a descheduled thread; single-threaded copies
  // meet once per batch, and a core one of them leaves is free for decoding (bench/scan).
  const std::size_t n = inputs.size();
  std::vector<Tensor> outs(parts);
  std::vector<std::exception_ptr> errors(parts);
  const auto run_part = [&](std::size_t p) {
    try {
      Engine& engine = p == 0 ? *engine_ : *replicas_[p - 1];
      const std::size_t start = p * n / parts, end = (p + 1) * n / parts;
      outs[p] = batched(inputs.subspan(start, end - start), labels,
                        [&](const Tensor& batch) { return engine.forward(batch); });
    } catch (...) {
      errors[p] = std::current_exception();
    }
  };
  {
    std::vector<std::jthread> others;
    for (std::size_t p = 1; p < parts; ++p) others.emplace_back(run_part, p);
    run_part(0);
  }  // joined
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  Tensor all({static_cast<std::int64_t>(n), labels});
  auto out = all.data.begin();
  for (const Tensor& t : outs) out = std::copy(t.data.begin(), t.data.end(), out);
  return all;
}

Tensor LocalClassifier::image_embeds(std::span<const PreparedInput> inputs) {
  if (!clip_) throw Error(ErrorKind::kInternal, info_.id, "not a zero-shot (CLIP) model");
  const std::int64_t dim = std::get<ClipConfig>(config_.arch).projection_dim;
  return batched(inputs, dim, [&](const Tensor& batch) { return clip_->image_embeds(batch); });
}

Tensor LocalClassifier::text_embeds(const std::vector<std::string>& labels,
                                    const std::string& hypothesis_template) {
  std::lock_guard lock(text_mutex_);
  auto key = std::make_pair(labels, hypothesis_template);
  if (const auto it = text_cache_.find(key); it != text_cache_.end()) return it->second;
  if (text_cache_.size() >= kTextCacheSize) text_cache_.clear();  // rare: start afresh
  Tensor t = label_embeds(*clip_, *tokenizer_, labels, hypothesis_template);
  text_cache_.emplace(std::move(key), t);
  return t;
}

Classification LocalClassifier::zero_shot(std::span<const float> image_embed,
                                          const std::vector<std::string>& labels,
                                          const std::string& hypothesis_template, int top_k) {
  if (!clip_) throw Error(ErrorKind::kInternal, info_.id, "not a zero-shot (CLIP) model");
  if (labels.empty()) throw Error(ErrorKind::kConfig, info_.id, "no candidate labels");
  Tensor image({1, static_cast<std::int64_t>(image_embed.size())});
  std::copy(image_embed.begin(), image_embed.end(), image.data.begin());
  const Tensor logits =
      zero_shot_logits(image, text_embeds(labels, hypothesis_template), clip_->logit_scale_exp());
  ModelConfig config = config_;
  config.id2label = labels;
  return postprocess(logits.data, config, top_k);
}

Tensor LocalClassifier::batched(std::span<const PreparedInput> inputs, std::int64_t labels,
                                const std::function<Tensor(const Tensor&)>& forward) {
  Tensor all({static_cast<std::int64_t>(inputs.size()), labels});
  if (inputs.empty()) return all;
  // Without resizing the size comes from the first image; every image of a batch must match it.
  const std::int64_t h = inputs.front().height;
  const std::int64_t w = inputs.front().width;
  const std::size_t per_image = static_cast<std::size_t>(3 * h * w);
  for (std::size_t start = 0; start < inputs.size();
       start += static_cast<std::size_t>(max_batch_)) {
    const std::size_t n = std::min(inputs.size() - start, static_cast<std::size_t>(max_batch_));
    Tensor batch({static_cast<std::int64_t>(n), 3, h, w});
    for (std::size_t i = 0; i < n; ++i) {
      const auto& px = inputs[start + i].pixel_values;
      if (px.size() != per_image || inputs[start + i].height != h || inputs[start + i].width != w)
        throw Error(ErrorKind::kUnsupported, inputs[start + i].name,
                    "image size differs from the others in the batch (the processor does not "
                    "resize); classify it on its own");
      std::memcpy(batch.data.data() + i * per_image, px.data(), per_image * sizeof(float));
    }
    const Tensor out = forward(batch);
    if (out.shape != std::vector<std::int64_t>{static_cast<std::int64_t>(n), labels})
      throw Error(ErrorKind::kInternal, info_.id,
                  "the engine returned an output of an unexpected shape");
    std::copy(
        out.data.begin(), out.data.end(),
        all.data.begin() + static_cast<std::ptrdiff_t>(start * static_cast<std::size_t>(labels)));
  }
  return all;
}

std::vector<Classification> LocalClassifier::classify(std::span<const PreparedInput> inputs,
                                                      int top_k) {
  const Tensor all = logits(inputs);
  const auto labels = static_cast<std::size_t>(config_.num_labels());
  std::vector<Classification> out;
  out.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    out.push_back(
        postprocess(std::span<const float>(all.data).subspan(i * labels, labels), config_, top_k));
  return out;
}

std::vector<ClassifyOutcome> LocalClassifier::run(std::span<const PreparedInput> inputs,
                                                  int top_k) {
  std::vector<ClassifyOutcome> out(inputs.size());
  // Classifies inputs[start, start + n); an error is kept when it belongs to one image.
  const auto attempt = [&](std::size_t start, std::size_t n) {
    try {
      auto results = classify(inputs.subspan(start, n), top_k);
      for (std::size_t k = 0; k < n; ++k) out[start + k].result = std::move(results[k]);
      return true;
    } catch (const Error& e) {
      if (n == 1) out[start].error = e;
    } catch (const std::exception& e) {
      if (n == 1) out[start].error = Error(ErrorKind::kInternal, "", e.what());
    }
    return false;
  };
  // The whole batch in full forward passes; when that fails, each image alone, so the one at
  // fault gets the error and the others their results.
  if (inputs.empty() || attempt(0, inputs.size()) || inputs.size() == 1) return out;
  for (std::size_t i = 0; i < inputs.size(); ++i) attempt(i, 1);
  return out;
}

std::unique_ptr<LocalClassifier> open_local_classifier(const std::filesystem::path& dir,
                                                       const LocalOptions& options) {
  return std::make_unique<LocalClassifier>(Checkpoint::load(dir), options);
}

}  // namespace binscan

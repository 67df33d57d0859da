// LocalClassifier: a checkpoint directory run on this machine — ImageProcessor for prepare(),
// the oneDNN engine and the pipeline's postprocessing for run(). A CLIP model is a classifier
// over its candidate labels: transformers' zero-shot-image-classification pipeline (each label
// put in the hypothesis template, tokenized and padded as the pipeline does, logits_per_image,
// softmax over the labels, sorted by score with ties in label order).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "classify/classifier.h"
#include "engine/engine.h"
#include "model/checkpoint.h"
#include "preprocess/processor.h"
#include "text/clip_tokenizer.h"
#include "util/tensor.h"

namespace binscan {

struct LocalOptions {
  int threads = 0;    // engine threads; 0: all cores
  int max_batch = 8;  // run() forwards at most this many images at once
  // Copies of the engine, each on threads / replicas threads, that run the parts of a batch side
  // by side (see LocalClassifier::logits). 1: one engine on every thread. Zero-shot (CLIP) models
  // keep one: each copy would hold its own text tower.
  int replicas = 1;
  std::string model_id;  // ModelInfo::id; "" -> the directory as given
  std::string revision;  // ModelInfo::revision (commit hash when from the Hub cache)
  Precision precision = Precision::kFp32;          // ModelInfo::precision
  std::shared_ptr<const ActivationRanges> ranges;  // kInt8: the calibration (required)
  // Zero-shot models (CLIP): the candidate labels (required) and the pipeline's
  // hypothesis_template; the text embeddings are computed once, when the classifier is built.
  std::vector<std::string> candidate_labels;
  std::string hypothesis_template = std::string(kDefaultHypothesisTemplate);
  // Candidate labels given to a classifier (ViT, ResNet) are ignored rather than refused: scan
  // opens every --model with the same flags, and they are meant for its CLIP models.
  bool labels_for_zero_shot_only = false;
  // A CLIP model may be opened without candidate labels when every use brings its own
  // (zero_shot(); serve's requests): run() then refuses.
  bool labels_per_use = false;
};

class LocalClassifier : public Classifier {
 public:
  // Builds the engine from the checkpoint, then lets the checkpoint's weight mapping go: the
  // engine holds the only (reordered) copy of the weights.
  LocalClassifier(Checkpoint checkpoint, const LocalOptions& options);
  ~LocalClassifier() override;

  const ModelInfo& info() const override { return info_; }
  const ModelConfig& config() const { return config_; }
  const ImageProcessor& processor() const { return processor_; }

  // Preprocesses input.decoded (as stored plus its orientation, or oriented) into pixel_values.
  // Thread-safe.
  PreparedInput prepare(const ClassifyInput& input) const override;
  // The processor's need: ImageProcessor::accepts_reduced.
  bool accepts_reduced(int display_width, int display_height) const override {
    return processor_.accepts_reduced(display_width, display_height);
  }
  std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int top_k) override;

  // The raw logits [N, num_labels] for prepared inputs (batched by max_batch). With replicas the
  // inputs are cut into as many contiguous parts, each run by its own engine copy on its own
  // thread: the same bits, since an image's logits depend neither on its batch nor on the thread
  // count (the engines' guarantee).
  Tensor logits(std::span<const PreparedInput> inputs);
  // The engine's forward pass on pixel_values [N, 3, H, W] (a zero-shot model opened without
  // labels: the image embeddings).
  Tensor forward(const Tensor& pixel_values);
  // Calibration: Engine::observe_ranges (fp32 only).
  void observe_ranges(ActivationRanges* ranges) { engine_->observe_ranges(ranges); }

  // Zero-shot models: the image embeddings [N, D] of prepared inputs, and the classification of
  // one image embedding against any label set — the same bits as run() with those candidate
  // labels. The label sets' text embeddings are computed once each and kept (a bounded number).
  // Thread-safe for different calls of zero_shot; image_embeds as run().
  Tensor image_embeds(std::span<const PreparedInput> inputs);
  Classification zero_shot(std::span<const float> image_embed,
                           const std::vector<std::string>& labels,
                           const std::string& hypothesis_template, int top_k);

  // The [3, H, W] size prepare() produces (fixed when the processor resizes).
  int input_height() const { return height_; }
  int input_width() const { return width_; }

 private:
  // The batch's results; throws when any image fails.
  std::vector<Classification> classify(std::span<const PreparedInput> inputs, int top_k);
  // pixel_values of prepared inputs, max_batch_ at a time, through `forward`, rows concatenated.
  Tensor batched(std::span<const PreparedInput> inputs, std::int64_t row_size,
                 const std::function<Tensor(const Tensor&)>& forward);
  Tensor text_embeds(const std::vector<std::string>& labels,
                     const std::string& hypothesis_template);

  ModelConfig config_;
  ImageProcessor processor_;
  std::unique_ptr<Engine> engine_;                 // null: a zero-shot model opened without labels
  std::vector<std::unique_ptr<Engine>> replicas_;  // LocalOptions::replicas beyond engine_
  // Zero-shot models: the towers and the tokenizer, and text embeddings per label set.
  std::shared_ptr<ClipEngine> clip_;
  std::shared_ptr<const ClipTokenizer> tokenizer_;
  std::mutex text_mutex_;
  std::map<std::pair<std::vector<std::string>, std::string>, Tensor> text_cache_;
  ModelInfo info_;
  int max_batch_;
  int height_ = 0;
  int width_ = 0;
};

// Checkpoint::load(dir) + LocalClassifier. Throws Error naming the file that is wrong.
std::unique_ptr<LocalClassifier> open_local_classifier(const std::filesystem::path& dir,
                                                       const LocalOptions& options);

}  // namespace binscan

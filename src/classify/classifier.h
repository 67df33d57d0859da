// Layer classify/ owns the Classifier interface and its two backends, local (engine) and remote
// (Inference API), with softmax/top-k. May use: engine, model, preprocess, hub, text, image,
// util.
//
// Classifier: the one interface the application uses, whether the model runs here
// (LocalClassifier: checkpoint + engine) or on Hugging Face (RemoteClassifier: Inference API).
//
// Classification is split in two so a pipeline can overlap them: prepare() is thread-safe and
// runs on worker threads (preprocessing for local, packing the file bytes for remote); run()
// takes a batch of prepared inputs and is called from one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "image/decode.h"
#include "util/error.h"

namespace binscan {

// The zero-shot-image-classification pipeline's default hypothesis_template.
inline constexpr std::string_view kDefaultHypothesisTemplate = "This is a photo of {}.";

struct Prediction {
  std::string label;
  int class_id = -1;  // -1 when unknown (remote results carry only labels)
  double score = 0;
};

struct Classification {
  std::vector<Prediction> top;       // best first, ties in class-id order
  std::vector<float> probabilities;  // every class (local only; empty for remote)
  std::vector<float> logits;         // every class, as the model gave them (local only)
};

// One photo, as decoded once and shared by every model.
struct ClassifyInput {
  std::string name;                          // path, for messages
  std::span<const std::uint8_t> file_bytes;  // the original file (what the remote API receives)
  // RGB as stored, with the EXIF orientation to read it through (decoded once, without
  // rotating: DecodeOptions::apply_orientation = false), or already oriented.
  const DecodedImage* decoded = nullptr;
};

struct PreparedInput {
  std::string name;
  std::vector<float> pixel_values;  // local: C*H*W
  int height = 0;                   // local: H and W of pixel_values
  int width = 0;
  std::vector<std::uint8_t> bytes;  // remote: file content
  std::string content_type;         // remote: e.g. image/jpeg
  // local: the JPEG DCT scale the pixels were decoded at (1: exact; 2, 4, 8: 1/2, 1/4, 1/8,
  // --fast-decode); remote: always 1 (the service gets the file itself).
  int decode_scale = 1;
};

// What a model made of one image: its classification, or the error that kept it from one. One
// image failing never costs the others of its batch their results.
struct ClassifyOutcome {
  std::optional<Classification> result;
  std::optional<Error> error;
  bool ok() const { return result.has_value(); }
};

struct ModelInfo {
  std::string id;                   // "google/vit-base-patch16-224" or the directory given
  std::string revision;             // commit hash, or "" for a plain local directory
  std::vector<std::string> labels;  // id2label when known (local); empty for remote
  // Zero-shot (CLIP): `labels` are the candidate labels the model scores each photo against.
  bool zero_shot = false;
  std::string hypothesis_template;  // zero-shot: the sentence each label was put in
  bool remote = false;
  // local: the engine's arithmetic, "fp32", "bf16" or "int8"; empty for remote (the service's own).
  std::string precision;
};

class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual const ModelInfo& info() const = 0;
  virtual PreparedInput prepare(const ClassifyInput& input) const = 0;
  // Whether prepare() still serves when the photo is decoded smaller, at this size as displayed
  // (after the EXIF orientation): see DecodeOptions::reduced_fits. Thread-safe.
  virtual bool accepts_reduced(int display_width, int display_height) const {
    (void)display_width;
    (void)display_height;
    return false;
  }
  // One outcome per input, in the order of `inputs`: a result, or the error for that image.
  virtual std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int top_k) = 0;
};

}  // namespace binscan

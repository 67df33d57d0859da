// Layer pipeline/ owns the way photos come in and run through the models: finding them (files,
// folders: pipeline/walk.h, pipeline/inputs.h), decoding each once, as stored with its EXIF
// orientation, preparing it for every model that needs it (the processors reading through the
// orientation), and running full batches into a sink (pipeline/run.h). scan, classify and
// --compare-remote are each this pipeline with their own sink. May use: classify and everything
// below it (never store, analysis, render or cli).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "image/decode.h"
#include "util/error.h"

namespace binscan {

// One model's input for a photo: ready for its run(), or why it could not be prepared.
struct ModelInput {
  std::optional<PreparedInput> input;
  std::optional<Error> error;
  double prepare_ms = 0;
};

// A photo decoded once and prepared for each model asked for.
struct PreparedPhoto {
  // The photo's format, size and EXIF (its pixels are let go once every input is prepared);
  // nullopt when it could not be decoded.
  std::optional<DecodedImage> decoded;
  std::optional<Error> error;      // why it could not be decoded (naming `name`)
  std::vector<ModelInput> models;  // one per model, in the order given; empty on a decode error
};

// Decodes `bytes` (a file's content or a request body; `name` is used in messages) as stored and
// prepares it for `models` (prepare() is thread-safe, so photos can be prepared on several
// threads). A decode error is returned, not thrown; so is a model's preparation error.
// `fast_decode`: a JPEG is decoded at the coarsest DCT scale every one of `models` accepts
// (Classifier::accepts_reduced: the largest need wins), so the one decode serves them all.
PreparedPhoto prepare_photo(std::span<const std::uint8_t> bytes, const std::string& name,
                            std::span<const Classifier* const> models, bool fast_decode = false);

}  // namespace binscan

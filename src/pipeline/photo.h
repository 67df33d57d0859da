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
#include "pipeline/tiles.h"
#include "util/error.h"

namespace binscan {

// One tile of a photo, prepared for one model (see pipeline/tiles.h).
struct TileInput {
  TileBox box;  // in the photo as displayed
  std::optional<PreparedInput> input;
  std::optional<Error> error;
};

// One model's input for a photo: ready for its run(), or why it could not be prepared; with
// tiles, each tile's input too (the whole photo first, in `input`).
struct ModelInput {
  std::optional<PreparedInput> input;
  std::optional<Error> error;
  double prepare_ms = 0;  // the whole photo's and its tiles'
  std::vector<TileInput> tiles;
  int tile_cols = 1, tile_rows = 1;  // the layout the tiles came from (1x1: no tiles)
};

struct PrepareOptions {
  // JPEGs decoded at the coarsest DCT scale every model accepts (Classifier::accepts_reduced: the
  // largest need wins), so the one decode serves them all. Not with tiles: they are cut from the
  // photo at full resolution, which is their point.
  bool fast_decode = false;
  TileGrid tiles;  // none: the whole photo only
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
// With tiles, each tile is cut from the photo as displayed and handed to the model as an image of
// its own (for a remote model, as a PNG of the crop).
PreparedPhoto prepare_photo(std::span<const std::uint8_t> bytes, const std::string& name,
                            std::span<const Classifier* const> models,
                            const PrepareOptions& options = {});

// The pixels of `box` of an image (Pillow's Image.crop inside the image).
Image crop_image(const Image& image, const TileBox& box);

}  // namespace binscan

#include "pipeline/photo.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>

#include "image/encode.h"

namespace binscan {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// prepare() with its errors kept as values.
template <typename Slot>
void prepare_into(const Classifier& model, const ClassifyInput& input, Slot& slot) {
  try {
    slot.input = model.prepare(input);
  } catch (const Error& e) {
    slot.error = e;
  } catch (const std::exception& e) {
    slot.error = Error(ErrorKind::kInternal, input.name, e.what());
  }
}

// Each tile of `photo` (as displayed) for `model`, after its whole-photo input: the crop is
// handed over as an image of its own, so the model prepares it exactly as it would that crop
// saved to a file (remote: the crop's PNG is what the service receives).
void prepare_tiles(const Classifier& model, const DecodedImage& photo, const std::string& name,
                   const TileGrid& grid, ModelInput& m) {
  const int side = m.input ? std::max(m.input->width, m.input->height) : 224;
  const auto [cols, rows] = tile_layout(grid, photo.image.width, photo.image.height, side);
  m.tile_cols = cols;
  m.tile_rows = rows;
  for (const TileBox& box : tile_boxes(grid, photo.image.width, photo.image.height, side)) {
    TileInput tile;
    tile.box = box;
    DecodedImage crop;
    crop.image = crop_image(photo.image, box);
    crop.format = photo.format;
    crop.stored_width = box.width;
    crop.stored_height = box.height;
    const std::vector<std::uint8_t> png =
        model.info().remote ? encode_png(crop.image) : std::vector<std::uint8_t>{};
    const std::string tile_name = name + " (tile " + std::to_string(box.x) + "," +
                                  std::to_string(box.y) + " " + std::to_string(box.width) + "x" +
                                  std::to_string(box.height) + ")";
    prepare_into(model, ClassifyInput{tile_name, png, &crop}, tile);
    m.tiles.push_back(std::move(tile));
  }
}

}  // namespace

Image crop_image(const Image& image, const TileBox& box) {
  Image out(box.width, box.height);
  const auto row_bytes = static_cast<std::size_t>(box.width) * 3;
  for (int y = 0; y < box.height; ++y) {
    std::memcpy(out.row(y), image.row(box.y + y) + static_cast<std::size_t>(box.x) * 3, row_bytes);
  }
  return out;
}

PreparedPhoto prepare_photo(std::span<const std::uint8_t> bytes, const std::string& name,
                            std::span<const Classifier* const> models,
                            const PrepareOptions& options) {
  PreparedPhoto out;
  const bool tiled = options.tiles.enabled();
  try {
    // As stored: the processors read through the orientation (no rotated copy of the photo).
    DecodeOptions decode;
    decode.apply_orientation = false;
    if (options.fast_decode && !tiled && !models.empty()) {
      decode.reduced_fits = [models](int width, int height) {
        for (const Classifier* model : models)
          if (!model->accepts_reduced(width, height)) return false;
        return true;
      };
    }
    out.decoded = decode_image(bytes, name, decode);
  } catch (const Error& e) {
    out.error = e;
    return out;
  }
  const ClassifyInput input{name, bytes, &*out.decoded};
  for (const Classifier* model : models) {
    ModelInput m;
    const auto t0 = Clock::now();
    prepare_into(*model, input, m);
    m.prepare_ms = ms_since(t0);
    out.models.push_back(std::move(m));
  }
  if (tiled) {
    // Tiles are boxes in the photo as displayed: rotate it once for every model's tiles.
    DecodedImage shown;
    const DecodedImage* photo = &*out.decoded;
    if (!out.decoded->oriented) {
      const auto t0 = Clock::now();
      shown.image = apply_exif_orientation(out.decoded->image, out.decoded->exif.orientation);
      shown.format = out.decoded->format;
      photo = &shown;
      const double rotate_ms = ms_since(t0) / static_cast<double>(models.size());
      for (ModelInput& m : out.models) m.prepare_ms += rotate_ms;
    }
    for (std::size_t j = 0; j < models.size(); ++j) {
      const auto t0 = Clock::now();
      prepare_tiles(*models[j], *photo, name, options.tiles, out.models[j]);
      out.models[j].prepare_ms += ms_since(t0);
    }
  }
  out.decoded->image = Image{};  // the pixels are in the prepared inputs now
  return out;
}

}  // namespace binscan

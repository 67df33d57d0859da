// Layer preprocess/ owns turning an RGB image into a model's pixel_values as transformers does:
// preprocessor_config.json, Pillow-exact resampling (read through the EXIF orientation), crop,
// rescale, normalise. May use: image, util.
//
// The Hugging Face image processor, driven by preprocessor_config.json, reproducing
// transformers' PIL-based ViTImageProcessor and ConvNextImageProcessor exactly.
#pragma once

#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "image/image.h"
#include "util/tensor.h"

namespace binscan {

// PIL.Image.Resampling codes, as stored in preprocessor_config.json's "resample".
enum class Resample {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5
};

// "nearest", "lanczos", "bilinear", "bicubic", "box", "hamming".
std::string_view resample_name(Resample filter);

// kClip: CLIPImageProcessor (shortest edge to size.shortest_edge, bicubic, centre crop to
// crop_size, OpenAI's CLIP mean/std).
enum class ProcessorKind { kVit, kConvNext, kClip };

// "ViT", "ConvNext" or "CLIP".
std::string_view processor_kind_name(ProcessorKind kind);

struct ProcessorConfig {
  ProcessorKind kind = ProcessorKind::kVit;
  bool do_resize = true;
  // ViT: target height x width. ConvNext: shortest_edge (stored in `shortest_edge`). CLIP:
  // the resize's shortest_edge, and height x width the centre crop (crop_size) when
  // do_center_crop.
  int height = 224;
  int width = 224;
  int shortest_edge = 224;
  double crop_pct = 224.0 / 256.0;  // ConvNext only
  Resample resample = Resample::kBilinear;
  bool do_center_crop = true;  // CLIP only
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> image_std{0.5f, 0.5f, 0.5f};

  // Parses the JSON as transformers does, with its defaults for absent keys and the legacy forms
  // ("size": 224, feature_extractor_type). `source` names the file in errors (Error kConfig).
  static ProcessorConfig from_json(const nlohmann::json& json, const std::string& source);
  // `path` is preprocessor_config.json or a model directory containing it. Without a processor
  // type in the file, the model_type of a config.json next to it decides, as AutoImageProcessor
  // does. Throws Error(kIo) when unreadable, Error(kConfig) when invalid, Error(kUnsupported) for
  // other processors (DeiT, BEiT, ...), each naming the file.
  static ProcessorConfig from_file(const std::filesystem::path& path);

  // The transformers defaults of a processor class (what an empty JSON object gives).
  static ProcessorConfig defaults(ProcessorKind kind);
};

// Resizes 8-bit RGB exactly as Pillow's Image.resize((w, h), filter, reducing_gap=None).
Image resize_like_pillow(const Image& src, int width, int height, Resample filter);

// The same as resize_like_pillow(apply_exif_orientation(stored, orientation), ...) but without
// materialising the rotated full-size image: the two resampling passes read the stored pixels
// through the orientation. Bit-identical to the two-step form (integer sums do not depend on the
// order of their terms, and each pass keeps Pillow's axis order in the oriented frame).
Image resize_oriented_like_pillow(const Image& stored, int orientation, int width, int height,
                                  Resample filter);

// What prepare() did to an image, for one-line summaries.
struct PrepareInfo {
  int input_width = 0;  // after orientation
  int input_height = 0;
  bool resized = false;
  int resized_width = 0;
  int resized_height = 0;
  bool cropped = false;  // ConvNext centre crop (zero padding when the crop exceeds the image)
  int output_width = 0;
  int output_height = 0;
};

class ImageProcessor {
 public:
  explicit ImageProcessor(ProcessorConfig config);

  const ProcessorConfig& config() const { return config_; }

  // The RGB image the model sees: resized and cropped, before rescale/normalise.
  Image prepare(const Image& image) const;

  // prepare(apply_exif_orientation(stored, orientation)), computed from the stored pixels without
  // rotating the full image first, and only the pixels that survive the crop.
  Image prepare_oriented(const Image& stored, int orientation, PrepareInfo* info = nullptr) const;

  // Rescale (float64 multiply stored as float32) and normalise (float32) a prepared image into
  // `out` laid out CHW (3 * h * w floats).
  void to_pixel_values(const Image& prepared, float* out) const;

  // prepare + to_pixel_values: a [1, 3, H, W] tensor.
  Tensor preprocess(const Image& image) const;

  // The output (height, width) for an input of the given size (after orientation).
  std::pair<int, int> output_size(int input_width, int input_height) const;

  // Whether an input of this size (after orientation) is still at least as large as what the
  // resize makes of it, so a photo decoded smaller (JPEG DCT scaling) down to this size is only
  // resized down, never up: ViT needs height x width, ConvNext its resize_shortest_edge
  // (shortest_edge / crop_pct: 256 for ResNet-50) on the short side, or shortest_edge square from
  // 384 on. False without resizing: the output size is the input size.
  bool accepts_reduced(int input_width, int input_height) const;

 private:
  ProcessorConfig config_;
};

}  // namespace binscan

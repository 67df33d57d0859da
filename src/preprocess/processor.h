// The Hugging Face image processor, driven by preprocessor_config.json, reproducing
// transformers' PIL-based ViTImageProcessor and ConvNextImageProcessor exactly.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "image/image.h"
#include "util/tensor.h"

namespace binscan {

// PIL.Image.Resampling codes, as stored in preprocessor_config.json's "resample".
enum class Resample { kNearest = 0, kLanczos = 1, kBilinear = 2, kBicubic = 3, kBox = 4, kHamming = 5 };

enum class ProcessorKind { kVit, kConvNext };

struct ProcessorConfig {
  ProcessorKind kind = ProcessorKind::kVit;
  bool do_resize = true;
  // ViT: target height x width. ConvNext: shortest_edge (stored in `shortest_edge`).
  int height = 224;
  int width = 224;
  int shortest_edge = 224;
  double crop_pct = 224.0 / 256.0;  // ConvNext only
  Resample resample = Resample::kBilinear;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> image_std{0.5f, 0.5f, 0.5f};

  // Parses the JSON as transformers does, with its defaults for absent keys and the legacy forms
  // ("size": 224, feature_extractor_type). `source` names the file in errors (Error kConfig).
  static ProcessorConfig from_json(const nlohmann::json& json, const std::string& source);
  static ProcessorConfig from_file(const std::filesystem::path& path);
};

// Resizes 8-bit RGB exactly as Pillow's Image.resize((w, h), filter, reducing_gap=None).
Image resize_like_pillow(const Image& src, int width, int height, Resample filter);

class ImageProcessor {
 public:
  explicit ImageProcessor(ProcessorConfig config);

  const ProcessorConfig& config() const { return config_; }

  // The RGB image the model sees: resized and cropped, before rescale/normalise.
  Image prepare(const Image& image) const;

  // Rescale (float64 multiply stored as float32) and normalise (float32) a prepared image into
  // `out` laid out CHW (3 * h * w floats).
  void to_pixel_values(const Image& prepared, float* out) const;

  // prepare + to_pixel_values: a [1, 3, H, W] tensor.
  Tensor preprocess(const Image& image) const;

 private:
  ProcessorConfig config_;
};

}  // namespace binscan

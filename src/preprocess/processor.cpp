// ImageProcessor: transformers' ViTImageProcessor / ConvNextImageProcessor preprocess() for one
// image, step by step as image_transforms.py does it (resize through PIL, centre crop, rescale,
// normalise, channels first).
#include "preprocess/processor.h"

#include <algorithm>

#include "image/decode.h"
#include "preprocess/resample.h"
#include "util/error.h"

namespace binscan {
namespace {

// Python's floor division, for the crop offsets (which go negative when the crop is larger).
int floor_div2(int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

// An output as large as the largest image we decode is certainly a broken configuration.
void check_area(int w, int h) {
  if (static_cast<std::int64_t>(w) * h > kMaxImagePixels) {
    throw Error(ErrorKind::kTooLarge, "",
                "the configured output size " + std::to_string(w) + "x" + std::to_string(h) +
                    " is too large");
  }
}

struct Plan {
  int in_w = 0, in_h = 0;  // oriented input
  bool resize = false;
  int resized_w = 0, resized_h = 0;
  bool crop = false;
  int crop_w = 0, crop_h = 0;
  int left = 0, top = 0;  // crop origin in the resized image (may be negative: zero padding)
};

Plan make_plan(const ProcessorConfig& c, int in_w, int in_h) {
  Plan p;
  p.in_w = in_w;
  p.in_h = in_h;
  p.resized_w = in_w;
  p.resized_h = in_h;
  if (!c.do_resize) return p;
  p.resize = true;
  if (c.kind == ProcessorKind::kVit) {
    p.resized_w = c.width;
    p.resized_h = c.height;
    check_area(p.resized_w, p.resized_h);
    return p;
  }
  const int se = c.shortest_edge;
  const bool clip = c.kind == ProcessorKind::kClip;
  if (!clip && se >= 384) {
    // "warping (no cropping) when evaluated at 384 or larger"
    p.resized_w = p.resized_h = se;
    check_area(p.resized_w, p.resized_h);
    return p;
  }
  // ConvNext: resize_shortest_edge = int(shortest_edge / crop_pct); CLIP: shortest_edge. Then
  // get_resize_output_image_size with default_to_square=False: the long side is
  // int(new_short * long / short).
  const double rse_d = clip ? static_cast<double>(se) : static_cast<double>(se) / c.crop_pct;
  if (!(rse_d >= 1.0) || rse_d > 1e6) {
    throw Error(ErrorKind::kConfig, "",
                "crop_pct " + std::to_string(c.crop_pct) + " gives an empty resize");
  }
  const auto rse = static_cast<std::int64_t>(rse_d);
  const std::int64_t short_side = std::min(in_w, in_h);
  const std::int64_t long_side = std::max(in_w, in_h);
  const auto new_long = static_cast<std::int64_t>(static_cast<double>(rse * long_side) /
                                                  static_cast<double>(short_side));
  if (new_long > 1'000'000) {
    throw Error(ErrorKind::kTooLarge, "", "resized image would be too large");
  }
  if (in_w <= in_h) {
    p.resized_w = static_cast<int>(rse);
    p.resized_h = static_cast<int>(new_long);
  } else {
    p.resized_h = static_cast<int>(rse);
    p.resized_w = static_cast<int>(new_long);
  }
  if (clip) {
    if (!c.do_center_crop) return p;
    // center_crop(crop_size): the same slicing (and zero padding) as ConvNext's below.
    p.crop = true;
    p.crop_w = c.width;
    p.crop_h = c.height;
    p.top = floor_div2(p.resized_h - c.height);
    p.left = floor_div2(p.resized_w - c.width);
    return p;
  }
  p.crop = true;
  p.crop_w = p.crop_h = se;
  p.top = floor_div2(p.resized_h - se);
  p.left = floor_div2(p.resized_w - se);
  return p;
}

}  // namespace

ImageProcessor::ImageProcessor(ProcessorConfig config) : config_(std::move(config)) {}

std::pair<int, int> ImageProcessor::output_size(int input_width, int input_height) const {
  const Plan p = make_plan(config_, input_width, input_height);
  if (p.crop) return {p.crop_h, p.crop_w};
  return {p.resized_h, p.resized_w};
}

bool ImageProcessor::accepts_reduced(int input_width, int input_height) const {
  const ProcessorConfig& c = config_;
  if (!c.do_resize || input_width < 1 || input_height < 1) return false;
  if (c.kind == ProcessorKind::kVit) return input_width >= c.width && input_height >= c.height;
  if (c.kind == ProcessorKind::kClip) return std::min(input_width, input_height) >= c.shortest_edge;
  if (c.shortest_edge >= 384) return std::min(input_width, input_height) >= c.shortest_edge;
  // The short side is resized to int(shortest_edge / crop_pct), as make_plan does.
  const double rse = static_cast<double>(c.shortest_edge) / c.crop_pct;
  if (!(rse >= 1.0) || rse > 1e6) return false;
  return std::min(input_width, input_height) >= static_cast<int>(rse);
}

Image ImageProcessor::prepare(const Image& image) const { return prepare_oriented(image, 1); }

Image ImageProcessor::prepare_oriented(const Image& stored, int orientation,
                                       PrepareInfo* info) const {
  if (stored.empty()) throw Error(ErrorKind::kInternal, "", "empty image");
  if (orientation < 1 || orientation > 8) orientation = 1;
  const bool swap = orientation >= 5;
  const int in_w = swap ? stored.height : stored.width;
  const int in_h = swap ? stored.width : stored.height;
  const Plan p = make_plan(config_, in_w, in_h);
  if (info) {
    info->input_width = in_w;
    info->input_height = in_h;
    info->resized = p.resize;
    info->resized_width = p.resized_w;
    info->resized_height = p.resized_h;
    info->cropped = p.crop;
    info->output_width = p.crop ? p.crop_w : p.resized_w;
    info->output_height = p.crop ? p.crop_h : p.resized_h;
  }
  // Without resize the image only needs orienting: a same-size NEAREST "resize" is a copy.
  const Resample filter = p.resize ? config_.resample : Resample::kNearest;
  if (!p.crop) {
    return detail::resample_window(stored, orientation, p.resized_w, p.resized_h, filter,
                                   detail::Window{0, 0, p.resized_w, p.resized_h});
  }
  // Only the part of the resized image inside the crop is computed: every output pixel of
  // Pillow's resize depends only on its own weights, so a window of it is exact.
  detail::Window win{std::max(0, p.left), std::max(0, p.top),
                     std::min(p.resized_w, p.left + p.crop_w),
                     std::min(p.resized_h, p.top + p.crop_h)};
  if (win.x0 == p.left && win.y0 == p.top && win.width() == p.crop_w && win.height() == p.crop_h) {
    return detail::resample_window(stored, orientation, p.resized_w, p.resized_h, filter, win);
  }
  Image out(p.crop_w, p.crop_h);
  std::fill(out.pixels.begin(), out.pixels.end(), std::uint8_t{0});
  if (win.x0 < win.x1 && win.y0 < win.y1) {
    const Image part =
        detail::resample_window(stored, orientation, p.resized_w, p.resized_h, filter, win);
    for (int y = 0; y < part.height; ++y) {
      std::copy_n(part.row(y), static_cast<std::size_t>(part.width) * 3,
                  out.row(win.y0 - p.top + y) + 3 * static_cast<std::size_t>(win.x0 - p.left));
    }
  }
  return out;
}

void ImageProcessor::to_pixel_values(const Image& prepared, float* out) const {
  // Each output depends only on the byte and the channel, so a 256-entry table per channel gives
  // exactly numpy's elementwise results: (float32)(float64(v) * scale), then (x - mean) / std in
  // float32 with mean and std as float32 arrays (image_transforms.rescale / normalize).
  std::array<std::array<float, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = config_.do_rescale
                    ? static_cast<float>(static_cast<double>(v) * config_.rescale_factor)
                    : static_cast<float>(v);
      if (config_.do_normalize) {
        x = (x - config_.image_mean[static_cast<std::size_t>(c)]) /
            config_.image_std[static_cast<std::size_t>(c)];
      }
      lut[static_cast<std::size_t>(c)][static_cast<std::size_t>(v)] = x;
    }
  }
  const std::size_t plane = static_cast<std::size_t>(prepared.width) * prepared.height;
  const std::uint8_t* px = prepared.pixels.data();
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  for (std::size_t i = 0; i < plane; ++i) {
    r[i] = lut[0][px[3 * i + 0]];
    g[i] = lut[1][px[3 * i + 1]];
    b[i] = lut[2][px[3 * i + 2]];
  }
}

Tensor ImageProcessor::preprocess(const Image& image) const {
  const Image prepared = prepare(image);
  Tensor t({1, 3, prepared.height, prepared.width});
  to_pixel_values(prepared, t.data.data());
  return t;
}

}  // namespace binscan

// Layer image/ owns decoding files into RGB (libjpeg-turbo, libpng, libwebp), EXIF (orientation,
// GPS, bearing, camera), orientation, thumbnails and PNG/JPEG encoding. It knows nothing of models.
// May use: util.
//
// Decoding image files by content into RGB, the way transformers' load_image sees them
// (PIL.Image.open -> ImageOps.exif_transpose -> convert("RGB")).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "image/exif.h"
#include "image/image.h"

namespace binscan {

enum class ImageFormat { kJpeg, kPng, kWebp };
std::string_view format_name(ImageFormat format);  // "JPEG", "PNG", "WEBP"
std::string_view mime_type(ImageFormat format);    // "image/jpeg", ...

// Recognises a format by its magic bytes; nullopt when not an image we read.
std::optional<ImageFormat> sniff_format(std::span<const std::uint8_t> bytes);

// Refuse images above this many pixels, like Pillow's DecompressionBombError
// (2 * Image.MAX_IMAGE_PIXELS = 2 * 89478485).
inline constexpr std::int64_t kMaxImagePixels = 178956970;

// Whether a JPEG decoded at reduced scale would still serve: given the size it would have as
// displayed (after the EXIF orientation), true when that is large enough for what follows.
using ReducedFits = std::function<bool(int display_width, int display_height)>;

struct DecodeOptions {
  std::int64_t max_pixels = kMaxImagePixels;
  bool apply_orientation = true;  // exif_transpose, as transformers does before every model
  // Set: a JPEG is decoded at the smallest of libjpeg's DCT scales 1/8, 1/4, 1/2 this accepts
  // (the stored size divided by the denominator, rounded up, as libjpeg and Pillow's draft() do),
  // else in full. Much faster for large photos, but the pixels are not those of a full decode.
  // PNG and WebP are always decoded in full.
  ReducedFits reduced_fits;
};

struct DecodedImage {
  Image image;           // RGB, orientation applied when DecodeOptions::apply_orientation
  bool oriented = true;  // image is as displayed (orientation applied, or none to apply)
  ImageFormat format{};
  int stored_width = 0;       // dimensions as stored in the file, before orientation (`image` is
  int stored_height = 0;      // smaller when scale_denominator > 1)
  int scale_denominator = 1;  // 1: decoded exactly; 2, 4, 8: JPEG DCT-scaled by 1/denominator
  Exif exif;
  std::vector<std::string> warnings;  // e.g. "ignored malformed EXIF: ..."

  // The orientation still to apply to `image` (1 when it is as displayed), for the processors
  // that read through it (ImageProcessor::prepare_oriented).
  int pending_orientation() const { return oriented ? 1 : exif.orientation; }
  // The size as displayed, after the EXIF orientation (swapped for orientations 5..8).
  int display_width() const { return swapped() ? stored_height : stored_width; }
  int display_height() const { return swapped() ? stored_width : stored_height; }
  bool swapped() const { return exif.orientation >= 5 && exif.orientation <= 8; }
};

// Decodes bytes; `name` is used in error messages (normally the path).
// Throws Error(kFormat / kUnsupported / kTooLarge) naming `name` and the cause.
DecodedImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                          const DecodeOptions& options = {});

// read_file + decode_image.
DecodedImage load_image(const std::filesystem::path& path, const DecodeOptions& options = {});

// Returns the image transformed as PIL.ImageOps.exif_transpose does for orientation 1..8.
Image apply_exif_orientation(const Image& image, int orientation);

// What a file is without decoding its pixels: format, dimensions and EXIF, read from the headers
// only (fast; used by `binscan info`). A truncated pixel stream is not noticed here — decode_image
// notices it.
struct ImageInfo {
  ImageFormat format{};
  int stored_width = 0;  // as stored in the file
  int stored_height = 0;
  int width = 0;  // as displayed, after the EXIF orientation (swapped for orientations 5..8)
  int height = 0;
  Exif exif;
  std::vector<std::string> warnings;
};

// Throws like decode_image (kFormat / kUnsupported / kTooLarge) for what the headers reveal.
ImageInfo probe_image(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::int64_t max_pixels = kMaxImagePixels);
ImageInfo probe_image_file(const std::filesystem::path& path,
                           std::int64_t max_pixels = kMaxImagePixels);

}  // namespace binscan

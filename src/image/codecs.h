// Internal to image/: one reader per file format behind decode_image / probe_image.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "image/decode.h"

namespace binscan::detail {

// What a codec hands back. With `pixels == false` only the header and metadata are read and
// `image` stays empty. Orientation is NOT applied here (decode.cpp does that once for all).
struct CodecResult {
  Image image;
  int width = 0;  // stored dimensions (`image` is smaller when scale_denominator > 1)
  int height = 0;
  int scale_denominator = 1;
  Exif exif;
  std::vector<std::string> warnings;
};

// `reduced_fits` (may be empty): see DecodeOptions::reduced_fits.
CodecResult read_jpeg(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::int64_t max_pixels, bool pixels, const ReducedFits& reduced_fits = {});
CodecResult read_png(std::span<const std::uint8_t> bytes, const std::string& name,
                     std::int64_t max_pixels, bool pixels);
CodecResult read_webp(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::int64_t max_pixels, bool pixels);

// parse_exif that also says whether an Orientation tag was present (Pillow's PNG reader falls
// back to the XMP orientation only when it is not).
Exif parse_exif_checked(std::span<const std::uint8_t> tiff, std::vector<std::string>* warnings,
                        bool* has_orientation);

// Throws Error(kTooLarge) when width x height exceeds max_pixels (before any pixel is allocated).
void check_pixel_limit(std::int64_t width, std::int64_t height, std::int64_t max_pixels,
                       const std::string& name);

}  // namespace binscan::detail

// Small JPEG previews of photos, for reports that embed them (data: URIs).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "image/image.h"

namespace binscan {

struct ThumbnailOptions {
  int max_side = 200;  // the longer side of the preview, in pixels
  int quality = 75;    // JPEG quality 1..100
};

// Encodes RGB pixels as a baseline JPEG (libjpeg-turbo). Throws Error(kFormat) on failure.
std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality);

// Shrinks so the longer side is at most max_side, averaging whole boxes of source pixels (a
// preview needs no Pillow-exact resampling, only no aliasing); smaller images are returned as is.
Image shrink_to_fit(const Image& image, int max_side);

// The preview of an image file: decoded by content (JPEG with libjpeg's DCT scaling, so a 12 MP
// photo costs a fraction of a full decode), turned upright as its EXIF orientation says, shrunk
// and encoded as JPEG. `name` is used in errors. Throws Error like decode_image.
std::vector<std::uint8_t> make_thumbnail_jpeg(std::span<const std::uint8_t> file_bytes,
                                              const std::string& name,
                                              const ThumbnailOptions& options = {});

}  // namespace binscan

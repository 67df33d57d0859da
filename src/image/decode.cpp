#include "image/decode.h"

#include <algorithm>
#include <cstring>

#include "image/codecs.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

bool starts_with(std::span<const std::uint8_t> b, std::size_t at, std::string_view magic) {
  return b.size() >= at + magic.size() &&
         std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

// Formats we recognise but do not read, for a clearer message than "not an image".
const char* known_unsupported(std::span<const std::uint8_t> b) {
  if (starts_with(b, 0, "GIF87a") || starts_with(b, 0, "GIF89a")) return "GIF";
  if (starts_with(b, 0, "BM")) return "BMP";
  if (starts_with(b, 0, std::string_view("II*\0", 4)) ||
      starts_with(b, 0, std::string_view("MM\0*", 4))) {
    return "TIFF";
  }
  if (starts_with(b, 4, "ftypheic") || starts_with(b, 4, "ftypheix") ||
      starts_with(b, 4, "ftypmif1") || starts_with(b, 4, "ftyphevc")) {
    return "HEIF/HEIC";
  }
  if (starts_with(b, 4, "ftypavif")) return "AVIF";
  if (starts_with(b, 0, std::string_view("\0\0\0\x0cjP  ", 8))) return "JPEG 2000";
  if (starts_with(b, 0, "%PDF")) return "PDF";
  if (starts_with(b, 0, "RIFF") && starts_with(b, 8, "WEBP")) return "this WebP variant";
  return nullptr;
}

detail::CodecResult read_any(std::span<const std::uint8_t> bytes, const std::string& name,
                             std::int64_t max_pixels, bool pixels, ImageFormat* format,
                             const ReducedFits& reduced_fits = {}) {
  if (bytes.empty()) throw Error(ErrorKind::kFormat, name, "empty file (0 bytes), not an image");
  const auto f = sniff_format(bytes);
  if (!f) {
    if (const char* what = known_unsupported(bytes)) {
      throw Error(ErrorKind::kUnsupported, name,
                  std::string(what) + " images are not supported (JPEG, PNG and WebP are)");
    }
    throw Error(ErrorKind::kFormat, name, "not a JPEG, PNG or WebP image (unrecognised content)");
  }
  *format = *f;
  switch (*f) {
    case ImageFormat::kJpeg:
      return detail::read_jpeg(bytes, name, max_pixels, pixels, reduced_fits);
    case ImageFormat::kPng:
      return detail::read_png(bytes, name, max_pixels, pixels);
    case ImageFormat::kWebp:
      return detail::read_webp(bytes, name, max_pixels, pixels);
  }
  throw Error(ErrorKind::kInternal, name, "unknown image format");
}

// The transposing orientations (5..8): out(x, y) = src(sx, sy) where sx depends on y only and
// sy moves by +-1 as x grows (`down`), so each output row is a walk down or up one source
// column. The output is visited in tiles so that the source columns being walked stay in cache
// (a row-by-row walk would touch a new cache line for every pixel read). `column(y)` gives sx;
// `first_row` is sy at x = 0.
template <typename Column>
void transpose_tiled(const Image& src, Image& out, Column column, bool down) {
  constexpr int kTile = 64;
  const auto stride = static_cast<std::ptrdiff_t>(src.width) * 3;
  const std::ptrdiff_t step = down ? stride : -stride;
  const int first_row = down ? 0 : src.height - 1;
  for (int tx = 0; tx < out.width; tx += kTile) {
    const int x_end = std::min(tx + kTile, out.width);
    for (int y = 0; y < out.height; ++y) {
      std::uint8_t* o = out.row(y) + 3 * static_cast<std::size_t>(tx);
      const std::uint8_t* s =
          src.row(first_row) + 3 * static_cast<std::ptrdiff_t>(column(y)) + step * tx;
      for (int x = tx; x < x_end; ++x, o += 3, s += step) std::memcpy(o, s, 3);
    }
  }
}

void mirror_row(const std::uint8_t* in, std::uint8_t* out, int width) {
  const std::uint8_t* s = in + 3 * static_cast<std::size_t>(width - 1);
  for (int x = 0; x < width; ++x, out += 3, s -= 3) {
    out[0] = s[0];
    out[1] = s[1];
    out[2] = s[2];
  }
}

}  // namespace

namespace detail {

void check_pixel_limit(std::int64_t width, std::int64_t height, std::int64_t max_pixels,
                       const std::string& name) {
  if (width <= 0 || height <= 0) {
    throw Error(
        ErrorKind::kFormat, name,
        "image has no pixels (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  }
  if (width * height > max_pixels) {
    throw Error(ErrorKind::kTooLarge, name,
                "image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
                    std::to_string(width * height) + " pixels, above the limit of " +
                    std::to_string(max_pixels) + " (possible decompression bomb)");
  }
}

}  // namespace detail

std::string_view format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WEBP";
  }
  return "?";
}

std::string_view mime_type(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "image/jpeg";
    case ImageFormat::kPng:
      return "image/png";
    case ImageFormat::kWebp:
      return "image/webp";
  }
  return "application/octet-stream";
}

std::optional<ImageFormat> sniff_format(std::span<const std::uint8_t> bytes) {
  if (starts_with(bytes, 0, "\xFF\xD8\xFF")) return ImageFormat::kJpeg;
  if (starts_with(bytes, 0, "\x89PNG\r\n\x1A\n")) return ImageFormat::kPng;
  // Pillow's WebP _accept: RIFF....WEBP followed by a VP8, VP8L or VP8X chunk.
  if (starts_with(bytes, 0, "RIFF") && starts_with(bytes, 8, "WEBP") &&
      (starts_with(bytes, 12, "VP8 ") || starts_with(bytes, 12, "VP8L") ||
       starts_with(bytes, 12, "VP8X"))) {
    return ImageFormat::kWebp;
  }
  return std::nullopt;
}

DecodedImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                          const DecodeOptions& options) {
  DecodedImage out;
  detail::CodecResult r =
      read_any(bytes, name, options.max_pixels, true, &out.format, options.reduced_fits);
  out.stored_width = r.width;
  out.stored_height = r.height;
  out.scale_denominator = r.scale_denominator;
  out.exif = std::move(r.exif);
  out.warnings = std::move(r.warnings);
  if (options.apply_orientation && out.exif.orientation != 1) {
    out.image = apply_exif_orientation(r.image, out.exif.orientation);
  } else {
    out.image = std::move(r.image);
    out.oriented = out.exif.orientation == 1;
  }
  return out;
}

DecodedImage load_image(const std::filesystem::path& path, const DecodeOptions& options) {
  const std::vector<std::uint8_t> bytes = read_file(path);
  return decode_image(bytes, path.string(), options);
}

ImageInfo probe_image(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::int64_t max_pixels) {
  ImageInfo info;
  detail::CodecResult r = read_any(bytes, name, max_pixels, false, &info.format);
  info.stored_width = r.width;
  info.stored_height = r.height;
  const bool swapped = r.exif.orientation >= 5;
  info.width = swapped ? r.height : r.width;
  info.height = swapped ? r.width : r.height;
  info.exif = std::move(r.exif);
  info.warnings = std::move(r.warnings);
  return info;
}

ImageInfo probe_image_file(const std::filesystem::path& path, std::int64_t max_pixels) {
  const std::vector<std::uint8_t> bytes = read_file(path);
  return probe_image(bytes, path.string(), max_pixels);
}

// PIL.ImageOps.exif_transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
// 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90 (Pillow's rotations are counter-clockwise).
Image apply_exif_orientation(const Image& src, int orientation) {
  const int w = src.width, h = src.height;
  const std::size_t row_bytes = 3 * static_cast<std::size_t>(w);
  switch (orientation) {
    case 2: {
      Image out(w, h);
      for (int y = 0; y < h; ++y) mirror_row(src.row(y), out.row(y), w);
      return out;
    }
    case 3: {
      Image out(w, h);
      for (int y = 0; y < h; ++y) mirror_row(src.row(h - 1 - y), out.row(y), w);
      return out;
    }
    case 4: {
      Image out(w, h);
      for (int y = 0; y < h; ++y) std::memcpy(out.row(y), src.row(h - 1 - y), row_bytes);
      return out;
    }
    case 5: {
      Image out(h, w);
      transpose_tiled(
          src, out, [](int y) { return y; }, true);  // src(y, x)
      return out;
    }
    case 6: {
      Image out(h, w);
      transpose_tiled(
          src, out, [](int y) { return y; }, false);  // src(y, h-1-x)
      return out;
    }
    case 7: {
      Image out(h, w);
      transpose_tiled(
          src, out, [w](int y) { return w - 1 - y; }, false);  // src(w-1-y, h-1-x)
      return out;
    }
    case 8: {
      Image out(h, w);
      transpose_tiled(
          src, out, [w](int y) { return w - 1 - y; }, true);  // src(w-1-y, x)
      return out;
    }
    default:
      return src;
  }
}

}  // namespace binscan

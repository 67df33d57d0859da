#include "image/encode.h"

#include <png.h>

#include <cstring>
#include <string>
#include <string_view>

#include "util/error.h"
#include "util/file.h"

namespace binscan {

std::vector<std::uint8_t> encode_png(const Image& image) {
  if (image.empty()) throw Error(ErrorKind::kInternal, "", "cannot encode an empty image as PNG");
  // libpng's simplified API reports errors through the struct instead of longjmp, which keeps
  // C++ objects safe.
  png_image pi;
  std::memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = static_cast<png_uint_32>(image.width);
  pi.height = static_cast<png_uint_32>(image.height);
  pi.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&pi, nullptr, &size, 0, image.pixels.data(), 0, nullptr)) {
    const std::string msg = pi.message;
    png_image_free(&pi);
    throw Error(ErrorKind::kInternal, "", "PNG encoding failed: " + msg);
  }
  std::vector<std::uint8_t> out(size);
  if (!png_image_write_to_memory(&pi, out.data(), &size, 0, image.pixels.data(), 0, nullptr)) {
    const std::string msg = pi.message;
    png_image_free(&pi);
    throw Error(ErrorKind::kInternal, "", "PNG encoding failed: " + msg);
  }
  out.resize(size);
  return out;
}

void write_png(const std::filesystem::path& path, const Image& image) {
  const auto bytes = encode_png(image);
  write_file_atomically(
      path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace binscan

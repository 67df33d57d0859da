// Writing images: PNG for showing users exactly what a model was given.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "image/image.h"

namespace binscan {

// Encodes 8-bit RGB as PNG (libpng). Throws Error(kInternal) if libpng fails.
std::vector<std::uint8_t> encode_png(const Image& image);

// encode_png written atomically (no partial file on failure). Throws Error(kIo) naming `path`.
void write_png(const std::filesystem::path& path, const Image& image);

}  // namespace binscan

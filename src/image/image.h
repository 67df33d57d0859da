// Image: 8-bit RGB pixels, the common currency between decoding and preprocessing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace binscan {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // RGB, interleaved, row-major, no padding: 3 * width per row

  Image() = default;
  Image(int w, int h) : width(w), height(h), pixels(static_cast<std::size_t>(w) * h * 3) {}

  std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
  const std::uint8_t* row(int y) const {
    return pixels.data() + static_cast<std::size_t>(y) * width * 3;
  }
  bool empty() const { return width == 0 || height == 0; }
};

}  // namespace binscan

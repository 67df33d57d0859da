// Tensor: a dense float32 array with a shape, row-major (C order). Used for pixel_values and
// logits at the boundaries between preprocessing, the engine and classification.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <numeric>
#include <vector>

namespace binscan {

struct Tensor {
  std::vector<std::int64_t> shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(std::vector<std::int64_t> s)
      : shape(std::move(s)), data(static_cast<std::size_t>(element_count(shape))) {}

  static std::int64_t element_count(const std::vector<std::int64_t>& s) {
    return std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>());
  }
  std::int64_t numel() const { return element_count(shape); }
  std::int64_t dim(std::size_t i) const { return shape.at(i); }
};

// Writes a float32 tensor in NumPy .npy format (version 1.0, little-endian '<f4', C order),
// atomically. Throws Error(kIo).
void write_npy(const std::filesystem::path& path, const Tensor& tensor);

}  // namespace binscan

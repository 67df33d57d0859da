// Tensor helpers shared by the parity tests: a float32 .npy as a Tensor, and the largest
// magnitude and difference of tensors. Header-only.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "support/npy.h"
#include "util/tensor.h"

namespace binscan::test {

inline Tensor read_npy_tensor(const std::filesystem::path& path) {
  NpyF32 npy = read_npy_f32(path);
  Tensor t(npy.shape);
  t.data = std::move(npy.data);
  return t;
}

inline double max_abs(const Tensor& t) {
  double m = 0;
  for (const float v : t.data) m = std::max(m, std::abs(double(v)));
  return m;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i)
    m = std::max(m, std::abs(double(a.data[i]) - double(b.data[i])));
  return m;
}

}  // namespace binscan::test

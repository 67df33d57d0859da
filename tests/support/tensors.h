// Tensor helpers shared by the parity tests: a float32 .npy as a Tensor, the largest magnitude
// and difference of tensors, and the bf16 tolerance. Header-only.
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

// The bf16 tolerance relative to the outputs' size, from the number format and the depth (the bf16
// matmuls / convolutions in sequence on the longest path). bf16 keeps 8 significant bits, so
// rounding a value to it has a relative error of at most 2^-8 and on average 2^-9. Each bf16 layer
// rounds its input and its weights, two roundings; their errors are independent, so over the
// R = 2 x depth roundings they add up like a random walk, to about 2^-9 x sqrt(R). 4x that is
// allowed (see tests/engine/engine_test.cpp for what it catches).
inline double bf16_tolerance(int depth) { return 4 * std::ldexp(1.0, -9) * std::sqrt(2.0 * depth); }

}  // namespace binscan::test

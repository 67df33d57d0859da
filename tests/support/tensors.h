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

// Each image of [N, C, H, W] pixels (H == W) transposed: pixels read in the wrong layout.
inline Tensor transposed_images(const Tensor& pixels) {
  Tensor out = pixels;
  const auto n = pixels.shape[0], c = pixels.shape[1], h = pixels.shape[2], w = pixels.shape[3];
  for (std::int64_t i = 0; i < n * c; ++i)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t x = 0; x < w; ++x)
        out.data[(i * h + y) * w + x] = pixels.data[(i * h + x) * w + y];
  return out;
}

// The bf16 tolerance relative to the outputs' size, from the number format and the depth (the bf16
// matmuls / convolutions in sequence on the longest path). bf16 keeps 8 significant bits, so
// rounding a value to it has a relative error of at most 2^-8 and on average 2^-9. Each bf16 layer
// rounds its input and its weights, two roundings; their errors are independent, so over the
// R = 2 x depth roundings they add up like a random walk, to about 2^-9 x sqrt(R). 4x that is
// allowed (see tests/engine/engine_test.cpp for what it catches).
inline double bf16_tolerance(int depth) { return 4 * std::ldexp(1.0, -9) * std::sqrt(2.0 * depth); }

// The int8 tolerance relative to the outputs' size, from the number formats and the depth (see
// bf16_tolerance for the random walk). An int8 layer rounds its input to steps of range / L (L =
// 255 for u8 with VNNI, 127 for s8 and for u8 without VNNI, see resnet_engine.cpp; 127 here, the
// coarser) and each output channel's weights to steps of max |w| / 127. A rounding's error is
// uniform over a step, rms step / sqrt(12); relative to the rms of the values rounded that is C /
// (127 sqrt(12)), C = max / rms the tensor's crest factor. Taking C = 8 (an assumed bound for
// post-ReLU activations over a few photos and for weight rows; not measured tensor by tensor)
// gives 1.8% per rounding, over the 2 x depth roundings of the longest path a random walk of 1.8% x
// sqrt(2 x depth): 18% for ResNet-50 (depth 49; the stem and the 4 shortcuts stay fp32, the depth
// counts them anyway), 12% for the tiny bottleneck ResNet, 9.3% for the basic one. Measured on
// AVX-512 VNNI: 12%, 2.0%, 1.5% (under ONEDNN_MAX_CPU_ISA=AVX2, 7-bit inputs: 12%, 2.6%, 2.2%),
// about the same when calibrated on the very photos classified (no range exceeded: it is rounding,
// not clipping). With the shortcuts in int8 too it was 20%, 3.7%, 4.7% (see kept_fp32 in
// src/engine/resnet_engine.cpp). A dropped bias gives 200-1770%, a transposed input 26-68%, steps
// 8x too small 77-560% (checked every run). In general, with the weights' crest factor C_w and L
// levels (ViT's int8 matmuls without VNNI: L = 63, see int8_weight_levels), a layer's two
// roundings are C / 127 and C_w / L of the values' rms: sqrt(depth ((C / 127)^2 + (C_w / L)^2)) /
// sqrt(12). ViT passes C_w = 6: the random-weight ViT-B/16's weight rows measured 4.9 (median) to
// 5.7 (largest), so its bound is 15% with VNNI and 23% without (measured 3.6% and 6.1%; with C_w
// = 8, 29% without VNNI let a transposed input, 26%, pass).
inline double int8_tolerance(int depth, double weight_levels = 127, double weight_crest = 8) {
  const double x = 8.0 / 127.0, w = weight_crest / weight_levels;
  return std::sqrt(depth * (x * x + w * w)) / std::sqrt(12.0);
}

}  // namespace binscan::test

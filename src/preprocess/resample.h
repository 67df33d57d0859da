// Internals of the Pillow-exact resampler, exposed for the processor and for tests.
#pragma once

#include <cstdint>
#include <vector>

#include "image/image.h"
#include "preprocess/processor.h"

namespace binscan::detail {

// A half-open window [x0, x1) x [y0, y1) of a resized image.
struct Window {
  int x0 = 0;
  int y0 = 0;
  int x1 = 0;
  int y1 = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

// Fixed-point filter weights of one axis: Pillow's precompute_coeffs() followed by
// normalize_coeffs_8bpc(). Output i reads inputs [start[i], start[i] + count[i]) with weights
// k[i * ksize + j], which are doubles scaled by 2^22 and rounded half away from zero.
struct AxisCoeffs {
  int ksize = 0;
  std::vector<int> start;
  std::vector<int> count;
  std::vector<std::int32_t> k;
  int out_size() const { return static_cast<int>(start.size()); }
};

inline constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS

AxisCoeffs pillow_coeffs(int in_size, int out_size, Resample filter);
// One tap of weight 1.0 per output: what Pillow does when an axis keeps its size (it skips the
// pass; an identity pass gives the same bytes and lets flips ride along).
AxisCoeffs identity_coeffs(int size);
// Re-expresses the weights for an input read in reverse order (index i -> in_size - 1 - i).
void reverse_axis(AxisCoeffs& coeffs, int in_size);

// The window `win` of Image.resize((out_w, out_h), filter, reducing_gap=None) applied to
// exif_transpose of `stored` with the given EXIF orientation (1..8).
Image resample_window(const Image& stored, int orientation, int out_w, int out_h, Resample filter,
                      const Window& win);

// Whether the AVX2 kernels are used on this CPU (the scalar ones give identical bytes).
bool resample_uses_avx2();
// Tests force the scalar kernels to compare both paths.
void set_resample_force_scalar(bool force);

}  // namespace binscan::detail

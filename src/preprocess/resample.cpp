// Pillow-exact resampling of 8-bit RGB (Pillow 9.4 src/libImaging/Resample.c and, for NEAREST,
// the affine scale path of Geometry.c), written from scratch for speed.
//
// Hand-written rather than a library because no image library reproduces Pillow's fixed-point
// rounding, and transformers feeds models Pillow's bytes. Exactness rests on three facts:
//  * the weights are computed with Pillow's double-precision formulas and the same 22-bit
//    rounding, so each output is the same integer sum of products;
//  * integer sums do not depend on the order of their terms, so the kernels may vectorise,
//    reorder and read the pixels through an EXIF orientation freely;
//  * the two passes keep Pillow's order in the oriented frame (horizontal, clip to 8 bits, then
//    vertical), which is where rounding happens.
#include "preprocess/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <stdexcept>

#include "util/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BINSCAN_X86 1
#endif

namespace binscan::detail {
namespace {

// --- Pillow's filters (Resample.c), constants included (hamming's are float literals there) ---

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * std::numbers::pi;
  return std::sin(x) / x * (static_cast<double>(0.54f) + static_cast<double>(0.46f) * std::cos(x));
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * std::numbers::pi;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
  return 0.0;
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_for(Resample r) {
  switch (r) {
    case Resample::kBox:
      return {box_filter, 0.5};
    case Resample::kBilinear:
      return {bilinear_filter, 1.0};
    case Resample::kHamming:
      return {hamming_filter, 1.0};
    case Resample::kBicubic:
      return {bicubic_filter, 2.0};
    case Resample::kLanczos:
      return {lanczos_filter, 3.0};
    case Resample::kNearest:
      break;
  }
  throw Error(ErrorKind::kInternal, "", "no convolution filter for NEAREST");
}

std::uint8_t clip8(std::int32_t ss) {
  // Pillow: clip8_lookups[ss >> PRECISION_BITS], a table saturating to [0, 255].
  const std::int32_t v = ss >> kPrecisionBits;
  return static_cast<std::uint8_t>(std::clamp(v, 0, 255));
}

constexpr std::int32_t kHalf = std::int32_t{1} << (kPrecisionBits - 1);

bool g_force_scalar = false;

// --- scalar kernels ---------------------------------------------------------------------------

// out[(o - o0) * out_stride] = sum over the taps of output o of the row's pixels (RGB).
// Pixel index p of the coefficient space is at row + 3 * (p - index_offset).
void hpass_scalar(const std::uint8_t* row, int index_offset, const AxisCoeffs& c, int o0, int o1,
                  std::uint8_t* out, std::ptrdiff_t out_stride) {
  for (int o = o0; o < o1; ++o) {
    const std::int32_t* k = &c.k[static_cast<std::size_t>(o) * c.ksize];
    const std::uint8_t* p = row + 3 * static_cast<std::ptrdiff_t>(c.start[o] - index_offset);
    // Unsigned arithmetic: Pillow's sums fit in int32; wrapping keeps UBSan quiet on the way.
    std::uint32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
    for (int j = 0; j < c.count[o]; ++j) {
      const auto kj = static_cast<std::uint32_t>(k[j]);
      s0 += p[3 * j + 0] * kj;
      s1 += p[3 * j + 1] * kj;
      s2 += p[3 * j + 2] * kj;
    }
    std::uint8_t* q = out + (o - o0) * out_stride;
    q[0] = clip8(static_cast<std::int32_t>(s0));
    q[1] = clip8(static_cast<std::int32_t>(s1));
    q[2] = clip8(static_cast<std::int32_t>(s2));
  }
}

// out[i] = sum_j k[j] * rows[j * stride + i] for i in [0, nbytes).
void vpass_scalar(const std::uint8_t* rows, std::ptrdiff_t stride, int count, const std::int32_t* k,
                  std::uint8_t* out, std::size_t nbytes) {
  std::vector<std::uint32_t> acc(nbytes, static_cast<std::uint32_t>(kHalf));
  for (int j = 0; j < count; ++j) {
    const std::uint8_t* r = rows + j * stride;
    const auto kj = static_cast<std::uint32_t>(k[j]);
    for (std::size_t i = 0; i < nbytes; ++i) acc[i] += r[i] * kj;
  }
  for (std::size_t i = 0; i < nbytes; ++i) out[i] = clip8(static_cast<std::int32_t>(acc[i]));
}

#ifdef BINSCAN_X86

// --- AVX2 kernels -----------------------------------------------------------------------------
//
// Horizontal: four taps per step. A 16-byte load of packed RGB is shuffled into 16-bit pairs of
// the same channel from neighbouring taps, [R0 R1 G0 G1 B0 B1 0 0 | R2 R3 G2 G3 B2 B3 0 0], so
// vpmaddwd sums two taps per channel into lanes [R G B 0 | R G B 0]. The 23-bit weights do not fit
// 16 bits, so each is split k = hi * 2^15 + lo (0 <= lo < 2^15) and the two partial sums are
// recombined as (hi_sum << 15) + lo_sum, exact modulo 2^32 — and Pillow's sums fit in int32.

struct PackedH {
  int o0 = 0;
  int o1 = 0;
  std::vector<int> start;       // per output, minus o0
  std::vector<int> groups;      // 4-tap groups per output
  std::vector<int> offset;      // index into `w` (in int16 units) of the output's first group
  std::vector<std::int16_t> w;  // per group: 16 lo weights then 16 hi weights
  int max_read_end = 0;         // max over outputs of 3 * (start + 4 * groups) + 4, in bytes
};

PackedH pack_h(const AxisCoeffs& c, int o0, int o1) {
  PackedH p;
  p.o0 = o0;
  p.o1 = o1;
  std::size_t total = 0;
  for (int o = o0; o < o1; ++o) total += static_cast<std::size_t>((c.count[o] + 3) / 4) * 32;
  p.w.assign(total, 0);
  std::size_t at = 0;
  for (int o = o0; o < o1; ++o) {
    const int n = c.count[o];
    const int g = (n + 3) / 4;
    p.start.push_back(c.start[o]);
    p.groups.push_back(g);
    p.offset.push_back(static_cast<int>(at));
    p.max_read_end = std::max(p.max_read_end, 3 * (c.start[o] + 4 * g) + 4);
    const std::int32_t* k = &c.k[static_cast<std::size_t>(o) * c.ksize];
    for (int gi = 0; gi < g; ++gi) {
      std::int16_t* lo = &p.w[at];
      std::int16_t* hi = lo + 16;
      for (int t = 0; t < 4; ++t) {
        const int j = 4 * gi + t;
        const std::int32_t kj = j < n ? k[j] : 0;
        const auto l = static_cast<std::int16_t>(kj & 0x7fff);
        const auto h = static_cast<std::int16_t>(kj >> 15);
        const int lane = (t / 2) * 8;  // taps 0,1 in the low 128 bits, 2,3 in the high
        const int pos = t % 2;
        for (int ch = 0; ch < 3; ++ch) {
          lo[lane + 2 * ch + pos] = l;
          hi[lane + 2 * ch + pos] = h;
        }
      }
      at += 32;
    }
  }
  return p;
}

__attribute__((target("avx2"))) inline std::uint32_t finish_h(__m256i lo, __m256i hi) {
  __m256i acc = _mm256_add_epi32(_mm256_slli_epi32(hi, 15), lo);
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_set1_epi32(kHalf));
  s = _mm_srai_epi32(s, kPrecisionBits);
  s = _mm_packs_epi32(s, s);
  s = _mm_packus_epi16(s, s);
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(s));
}

inline void store3(std::uint8_t* q, std::uint32_t v) {
  q[0] = static_cast<std::uint8_t>(v);
  q[1] = static_cast<std::uint8_t>(v >> 8);
  q[2] = static_cast<std::uint8_t>(v >> 16);
}

// Runs the packed horizontal kernel over `nrows` (1 or 2) rows. Row r's pixel index p of the
// coefficient space is at rows[r] + 3 * (p - index_offset); all reads stay below
// rows[r] + (max_read_end - 3 * index_offset), which the caller guarantees is readable.
__attribute__((target("avx2"))) void hpass_avx2(const PackedH& p, const std::uint8_t* const* rows,
                                                int nrows, int index_offset,
                                                std::uint8_t* const* outs,
                                                std::ptrdiff_t out_stride) {
  const __m256i shuf = _mm256_setr_epi8(0, -128, 3, -128, 1, -128, 4, -128, 2, -128, 5, -128, -128,
                                        -128, -128, -128, 6, -128, 9, -128, 7, -128, 10, -128, 8,
                                        -128, 11, -128, -128, -128, -128, -128);
  const int n = p.o1 - p.o0;
  for (int i = 0; i < n; ++i) {
    const std::int16_t* w = &p.w[static_cast<std::size_t>(p.offset[i])];
    const std::ptrdiff_t byte0 = 3 * static_cast<std::ptrdiff_t>(p.start[i] - index_offset);
    const int g = p.groups[i];
    if (nrows == 2) {
      const std::uint8_t* a = rows[0] + byte0;
      const std::uint8_t* b = rows[1] + byte0;
      __m256i alo = _mm256_setzero_si256(), ahi = _mm256_setzero_si256();
      __m256i blo = _mm256_setzero_si256(), bhi = _mm256_setzero_si256();
      for (int gi = 0; gi < g; ++gi) {
        const __m256i wlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * gi));
        const __m256i whi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * gi + 16));
        const __m256i pa = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(
                                                   reinterpret_cast<const __m128i*>(a + 12 * gi))),
                                               shuf);
        const __m256i pb = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(
                                                   reinterpret_cast<const __m128i*>(b + 12 * gi))),
                                               shuf);
        alo = _mm256_add_epi32(alo, _mm256_madd_epi16(pa, wlo));
        ahi = _mm256_add_epi32(ahi, _mm256_madd_epi16(pa, whi));
        blo = _mm256_add_epi32(blo, _mm256_madd_epi16(pb, wlo));
        bhi = _mm256_add_epi32(bhi, _mm256_madd_epi16(pb, whi));
      }
      store3(outs[0] + i * out_stride, finish_h(alo, ahi));
      store3(outs[1] + i * out_stride, finish_h(blo, bhi));
    } else {
      const std::uint8_t* a = rows[0] + byte0;
      __m256i alo = _mm256_setzero_si256(), ahi = _mm256_setzero_si256();
      for (int gi = 0; gi < g; ++gi) {
        const __m256i wlo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * gi));
        const __m256i whi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * gi + 16));
        const __m256i pa = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(
                                                   reinterpret_cast<const __m128i*>(a + 12 * gi))),
                                               shuf);
        alo = _mm256_add_epi32(alo, _mm256_madd_epi16(pa, wlo));
        ahi = _mm256_add_epi32(ahi, _mm256_madd_epi16(pa, whi));
      }
      store3(outs[0] + i * out_stride, finish_h(alo, ahi));
    }
  }
}

// Vertical: 32 bytes per step, each widened to 32-bit lanes and multiplied by the broadcast tap
// weight (vpmulld keeps all 32 bits, so no splitting is needed).
__attribute__((target("avx2"))) void vpass_avx2(const std::uint8_t* rows, std::ptrdiff_t stride,
                                                int count, const std::int32_t* k, std::uint8_t* out,
                                                std::size_t nbytes) {
  const __m256i half = _mm256_set1_epi32(kHalf);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  std::size_t i = 0;
  for (; i + 32 <= nbytes; i += 32) {
    __m256i a0 = half, a1 = half, a2 = half, a3 = half;
    const std::uint8_t* r = rows + i;
    for (int j = 0; j < count; ++j, r += stride) {
      const __m256i kj = _mm256_set1_epi32(k[j]);
      a0 = _mm256_add_epi32(
          a0, _mm256_mullo_epi32(
                  _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r))), kj));
      a1 = _mm256_add_epi32(
          a1,
          _mm256_mullo_epi32(
              _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r + 8))), kj));
      a2 = _mm256_add_epi32(
          a2,
          _mm256_mullo_epi32(
              _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r + 16))), kj));
      a3 = _mm256_add_epi32(
          a3,
          _mm256_mullo_epi32(
              _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r + 24))), kj));
    }
    a0 = _mm256_srai_epi32(a0, kPrecisionBits);
    a1 = _mm256_srai_epi32(a1, kPrecisionBits);
    a2 = _mm256_srai_epi32(a2, kPrecisionBits);
    a3 = _mm256_srai_epi32(a3, kPrecisionBits);
    const __m256i packed =
        _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permutevar8x32_epi32(packed, order));
  }
  if (i < nbytes) vpass_scalar(rows + i, stride, count, k, out + i, nbytes - i);
}

bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}

#endif  // BINSCAN_X86

bool use_avx2() {
#ifdef BINSCAN_X86
  return !g_force_scalar && cpu_has_avx2();
#else
  return false;
#endif
}

void vpass(const std::uint8_t* rows, std::ptrdiff_t stride, int count, const std::int32_t* k,
           std::uint8_t* out, std::size_t nbytes) {
#ifdef BINSCAN_X86
  if (use_avx2()) return vpass_avx2(rows, stride, count, k, out, nbytes);
#endif
  vpass_scalar(rows, stride, count, k, out, nbytes);
}

// Horizontal passes over many rows with one set of weights (outputs [o0, o1) of `c`).
class HorizontalPass {
 public:
  HorizontalPass(const AxisCoeffs& c, int o0, int o1) : c_(c), o0_(o0), o1_(o1) {
#ifdef BINSCAN_X86
    if (use_avx2()) {
      packed_ = pack_h(c, o0, o1);
      avx2_ = true;
    }
#endif
  }

  // Rows whose readable bytes (from the row start) are at least `readable`; `out_stride` is the
  // distance between consecutive outputs. Processes rows pairwise to share weight loads.
  void run(const std::uint8_t* const* rows, int nrows, const std::size_t* readable,
           int index_offset, std::uint8_t* const* outs, std::ptrdiff_t out_stride) {
#ifdef BINSCAN_X86
    if (avx2_) {
      const auto need = static_cast<std::size_t>(std::max<std::ptrdiff_t>(
          0, packed_.max_read_end - 3 * static_cast<std::ptrdiff_t>(index_offset)));
      int r = 0;
      while (r < nrows) {
        const std::uint8_t* src[2];
        const int take = (r + 1 < nrows) ? 2 : 1;
        for (int t = 0; t < take; ++t) {
          src[t] = rows[r + t];
          if (readable[r + t] < need) {
            // Near the end of the buffer: read from a zero-padded copy instead.
            auto& buf = scratch_[t];
            buf.assign(need, 0);
            std::memcpy(buf.data(), rows[r + t], readable[r + t]);
            src[t] = buf.data();
          }
        }
        hpass_avx2(packed_, src, take, index_offset, outs + r, out_stride);
        r += take;
      }
      return;
    }
#endif
    (void)readable;
    for (int r = 0; r < nrows; ++r)
      hpass_scalar(rows[r], index_offset, c_, o0_, o1_, outs[r], out_stride);
  }

 private:
  const AxisCoeffs& c_;
  int o0_;
  int o1_;
  bool avx2_ = false;
#ifdef BINSCAN_X86
  PackedH packed_;
#endif
  std::vector<std::uint8_t> scratch_[2];
};

struct OrientAxes {
  bool transpose;  // oriented x runs along the stored y axis
  bool flip_x;     // oriented x runs backwards along its stored axis
  bool flip_y;
};

OrientAxes orient_axes(int orientation) {
  switch (orientation) {
    case 2:
      return {false, true, false};  // FLIP_LEFT_RIGHT
    case 3:
      return {false, true, true};  // ROTATE_180
    case 4:
      return {false, false, true};  // FLIP_TOP_BOTTOM
    case 5:
      return {true, false, false};  // TRANSPOSE
    case 6:
      return {true, true, false};  // ROTATE_270
    case 7:
      return {true, true, true};  // TRANSVERSE
    case 8:
      return {true, false, true};  // ROTATE_90
    default:
      return {false, false, false};
  }
}

// NEAREST: Pillow resizes with an affine scale (Geometry.c ImagingScaleAffine): source positions
// are accumulated in doubles from a half-pixel start, truncated, and out-of-range ones give black.
std::vector<int> nearest_table(int in_size, int out_size) {
  const double a = static_cast<double>(static_cast<float>(in_size)) / out_size;
  double pos = 0.0 + a * 0.5;
  std::vector<int> table(static_cast<std::size_t>(out_size));
  for (int i = 0; i < out_size; ++i) {
    const int v = pos < 0.0 ? -1 : static_cast<int>(pos);
    table[static_cast<std::size_t>(i)] = (v >= 0 && v < in_size) ? v : -1;
    pos += a;
  }
  return table;
}

Image nearest_window(const Image& stored, const OrientAxes& ax, int ow, int oh, int out_w,
                     int out_h, const Window& win) {
  auto xt = nearest_table(ow, out_w);
  auto yt = nearest_table(oh, out_h);
  Image out(win.width(), win.height());
  std::fill(out.pixels.begin(), out.pixels.end(), std::uint8_t{0});
  for (int yy = win.y0; yy < win.y1; ++yy) {
    int oy = yt[static_cast<std::size_t>(yy)];
    if (oy < 0) continue;
    if (ax.flip_y) oy = oh - 1 - oy;
    std::uint8_t* q = out.row(yy - win.y0);
    for (int xx = win.x0; xx < win.x1; ++xx) {
      int ox = xt[static_cast<std::size_t>(xx)];
      if (ox < 0) continue;
      if (ax.flip_x) ox = ow - 1 - ox;
      const int sx = ax.transpose ? oy : ox;
      const int sy = ax.transpose ? ox : oy;
      std::memcpy(q + 3 * (xx - win.x0), stored.row(sy) + 3 * sx, 3);
    }
  }
  return out;
}

}  // namespace

AxisCoeffs pillow_coeffs(int in_size, int out_size, Resample filter) {
  const Filter f = filter_for(filter);
  // Pillow passes the box as floats: (in1 - in0) is a float subtraction, then a double division.
  const float in0 = 0.0f;
  const auto in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = f.support * filterscale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;

  AxisCoeffs c;
  c.ksize = ksize;
  c.start.resize(static_cast<std::size_t>(out_size));
  c.count.resize(static_cast<std::size_t>(out_size));
  c.k.assign(static_cast<std::size_t>(out_size) * ksize, 0);
  std::vector<double> w(static_cast<std::size_t>(ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double v = f.fn((x + xmin - center + 0.5) * ss);
      w[static_cast<std::size_t>(x)] = v;
      ww += v;
    }
    std::int32_t* k = &c.k[static_cast<std::size_t>(xx) * ksize];
    for (int x = 0; x < xmax; ++x) {
      double v = w[static_cast<std::size_t>(x)];
      if (ww != 0.0) v /= ww;
      // normalize_coeffs_8bpc: round half away from zero to 22 fractional bits.
      k[x] = v < 0 ? static_cast<std::int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<std::int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.start[static_cast<std::size_t>(xx)] = xmin;
    c.count[static_cast<std::size_t>(xx)] = xmax;
  }
  return c;
}

AxisCoeffs identity_coeffs(int size) {
  AxisCoeffs c;
  c.ksize = 1;
  c.start.resize(static_cast<std::size_t>(size));
  c.count.assign(static_cast<std::size_t>(size), 1);
  c.k.assign(static_cast<std::size_t>(size), std::int32_t{1} << kPrecisionBits);
  for (int i = 0; i < size; ++i) c.start[static_cast<std::size_t>(i)] = i;
  return c;
}

void reverse_axis(AxisCoeffs& c, int in_size) {
  for (int o = 0; o < c.out_size(); ++o) {
    const auto so = static_cast<std::size_t>(o);
    c.start[so] = in_size - c.start[so] - c.count[so];
    std::int32_t* k = &c.k[so * c.ksize];
    std::reverse(k, k + c.count[so]);
  }
}

bool resample_uses_avx2() { return use_avx2(); }
void set_resample_force_scalar(bool force) { g_force_scalar = force; }

Image resample_window(const Image& stored, int orientation, int out_w, int out_h, Resample filter,
                      const Window& win) {
  if (stored.empty()) throw Error(ErrorKind::kInternal, "", "resize of an empty image");
  if (out_w < 1 || out_h < 1) {
    throw Error(ErrorKind::kInternal, "", "resize to an empty size");
  }
  if (win.x0 < 0 || win.y0 < 0 || win.x1 > out_w || win.y1 > out_h || win.x0 >= win.x1 ||
      win.y0 >= win.y1) {
    throw Error(ErrorKind::kInternal, "", "resize window outside the output");
  }
  const OrientAxes ax = orient_axes(orientation);
  const int ow = ax.transpose ? stored.height : stored.width;  // oriented size
  const int oh = ax.transpose ? stored.width : stored.height;
  if (filter == Resample::kNearest) return nearest_window(stored, ax, ow, oh, out_w, out_h, win);

  // Pillow skips a pass when its axis keeps its size; identity weights give the same bytes.
  AxisCoeffs hc = out_w != ow ? pillow_coeffs(ow, out_w, filter) : identity_coeffs(ow);
  AxisCoeffs vc = out_h != oh ? pillow_coeffs(oh, out_h, filter) : identity_coeffs(oh);
  if (ax.flip_x) reverse_axis(hc, ow);
  if (ax.flip_y) reverse_axis(vc, oh);

  // Stored-axis range the vertical pass reads (Pillow's ybox_first/ybox_last, for our window).
  int v0 = vc.start[static_cast<std::size_t>(win.y0)];
  int v1 = 0;
  for (int yy = win.y0; yy < win.y1; ++yy) {
    const auto s = static_cast<std::size_t>(yy);
    v0 = std::min(v0, vc.start[s]);
    v1 = std::max(v1, vc.start[s] + vc.count[s]);
  }

  const std::size_t stored_row_bytes = static_cast<std::size_t>(stored.width) * 3;
  const std::uint8_t* const stored_end = stored.pixels.data() + stored.pixels.size();
  Image out(win.width(), win.height());
  const auto out_row_bytes = static_cast<std::ptrdiff_t>(out.width) * 3;

  if (!ax.transpose) {
    // Horizontal pass along stored rows v0..v1, then vertical pass down the temporary.
    Image tmp(win.width(), v1 - v0);
    HorizontalPass hp(hc, win.x0, win.x1);
    constexpr int kBatch = 16;
    const std::uint8_t* rows[kBatch];
    std::uint8_t* outs[kBatch];
    std::size_t readable[kBatch];
    for (int r = v0; r < v1; r += kBatch) {
      const int n = std::min(kBatch, v1 - r);
      for (int t = 0; t < n; ++t) {
        rows[t] = stored.row(r + t);
        readable[t] = static_cast<std::size_t>(stored_end - rows[t]);
        outs[t] = tmp.row(r + t - v0);
      }
      hp.run(rows, n, readable, 0, outs, 3);
    }
    const auto tmp_row_bytes = static_cast<std::ptrdiff_t>(tmp.width) * 3;
    for (int yy = win.y0; yy < win.y1; ++yy) {
      const auto s = static_cast<std::size_t>(yy);
      vpass(tmp.row(vc.start[s] - v0), tmp_row_bytes, vc.count[s], &vc.k[s * vc.ksize],
            out.row(yy - win.y0), static_cast<std::size_t>(out_row_bytes));
    }
  } else {
    // The oriented horizontal pass runs down stored columns v0..v1 (a vertical pass over stored
    // rows), giving one temporary row per oriented output column; the oriented vertical pass then
    // runs along those rows and writes transposed.
    Image tmp(v1 - v0, win.width());
    const auto tmp_row_bytes = static_cast<std::size_t>(tmp.width) * 3;
    for (int xx = win.x0; xx < win.x1; ++xx) {
      const auto s = static_cast<std::size_t>(xx);
      vpass(stored.row(hc.start[s]) + 3 * static_cast<std::size_t>(v0),
            static_cast<std::ptrdiff_t>(stored_row_bytes), hc.count[s], &hc.k[s * hc.ksize],
            tmp.row(xx - win.x0), tmp_row_bytes);
    }
    HorizontalPass hp(vc, win.y0, win.y1);
    const std::uint8_t* const tmp_end = tmp.pixels.data() + tmp.pixels.size();
    for (int xx = win.x0; xx < win.x1; ++xx) {
      const std::uint8_t* row = tmp.row(xx - win.x0);
      const auto readable = static_cast<std::size_t>(tmp_end - row);
      std::uint8_t* dst = out.pixels.data() + 3 * static_cast<std::size_t>(xx - win.x0);
      hp.run(&row, 1, &readable, v0, &dst, out_row_bytes);
    }
  }
  return out;
}

}  // namespace binscan::detail

namespace binscan {

Image resize_like_pillow(const Image& src, int width, int height, Resample filter) {
  return resize_oriented_like_pillow(src, 1, width, height, filter);
}

Image resize_oriented_like_pillow(const Image& stored, int orientation, int width, int height,
                                  Resample filter) {
  return detail::resample_window(stored, orientation, width, height, filter,
                                 detail::Window{0, 0, width, height});
}

}  // namespace binscan

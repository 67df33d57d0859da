#include "engine/dnnl_support.h"

#include <emmintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <type_traits>
#include <unordered_map>

#include "util/error.h"

namespace binscan::engine_internal {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::primitive_attr strict_attr() {
  dnnl::primitive_attr attr;
  attr.set_fpmath_mode(dnnl::fpmath_mode::strict);
  return attr;
}

dnnl::primitive_attr strict_attr(const dnnl::post_ops& ops) {
  dnnl::primitive_attr attr = strict_attr();
  attr.set_post_ops(ops);
  return attr;
}

void append_activation(dnnl::post_ops& ops, Activation act) {
  using dnnl::algorithm;
  switch (act) {
    case Activation::kGelu:
      ops.append_eltwise(1.f, algorithm::eltwise_gelu_erf, 0.f, 0.f);
      return;
    case Activation::kGeluTanh:
      ops.append_eltwise(1.f, algorithm::eltwise_gelu_tanh, 0.f, 0.f);
      return;
    case Activation::kRelu:
      ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      return;
    case Activation::kSilu:  // x * sigmoid(x)
      ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
      return;
    case Activation::kQuickGelu:  // x * sigmoid(1.702 x)
      ops.append_eltwise(1.f, algorithm::eltwise_swish, 1.702f, 0.f);
      return;
  }
  throw Error(ErrorKind::kInternal, "", "unknown activation");
}

dnnl::memory::desc plain_desc(const dims& shape) {
  static constexpr tag kTags[] = {tag::undef, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde};
  if (shape.empty() || shape.size() > 5) throw Error(ErrorKind::kInternal, "", "bad tensor rank");
  return dnnl::memory::desc(shape, dt::f32, kTags[shape.size()]);
}

dnnl::memory prepare_weights(const std::vector<float>& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to) {
  dnnl::memory out(to, cpu_engine());
  if (from == to) {
    std::memcpy(out.get_data_handle(), plain.data(), to.get_size());
    return out;
  }
  dnnl::memory src = wrap(from, plain.data());
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(src, out).execute(stream, src, out);
  stream.wait();
  return out;
}

dnnl::memory prepare_weights(const std::vector<float>& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to, int mask,
                             const std::vector<float>& scales) {
  dnnl::memory out(to, cpu_engine());
  dnnl::memory src = wrap(from, plain.data());
  dnnl::primitive_attr attr;
  attr.set_output_scales(mask, scales);
  dnnl::stream stream(cpu_engine());
  dnnl::reorder(dnnl::reorder::primitive_desc(src, out, attr)).execute(stream, src, out);
  stream.wait();
  return out;
}

dnnl::memory::dim RowChunkedMatmul::chunk_rows(dnnl::memory::dim rows_per_item) {
  constexpr dnnl::memory::dim kTargetRows = 128;
  const dnnl::memory::dim chunks = (rows_per_item + kTargetRows - 1) / kTargetRows;
  return (rows_per_item + chunks - 1) / chunks;
}

RowChunkedMatmul::RowChunkedMatmul(dnnl::memory::dim rows_per_item, dnnl::memory::dim in,
                                   dnnl::memory::dim out, const dnnl::memory::desc& weights,
                                   const dnnl::memory::desc& bias, const dnnl::post_ops& ops,
                                   bool u8_src)
    : rows_per_item_(rows_per_item),
      in_(in),
      out_(out),
      bf16_src_(weights.data_type() == dt::bf16),
      int8_(weights.data_type() == dt::s8),
      u8_src_(int8_ && u8_src) {
  if (rows_per_item < 1) throw Error(ErrorKind::kInternal, "", "no rows to chunk");
  // Nearly equal chunks (197 tokens -> 50, 49, 49, 49): at most two distinct row counts.
  const dnnl::memory::dim size = chunk_rows(rows_per_item);
  const dnnl::memory::dim count = (rows_per_item + size - 1) / size;
  const dnnl::memory::dim base = rows_per_item / count, extra = rows_per_item % count;
  dnnl::memory::dim start = 0;
  for (dnnl::memory::dim c = 0; c < count; ++c) {
    const dnnl::memory::dim rows = base + (c < extra ? 1 : 0);
    std::size_t index = 0;
    while (index < problems_.size() && problems_[index].rows != rows) ++index;
    if (index == problems_.size()) {
      const dt src_type = bf16_src_ ? dt::bf16 : u8_src_ ? dt::u8 : int8_ ? dt::s8 : dt::f32;
      Problem p{
          rows, {}, dnnl::memory::desc({rows, in}, src_type, tag::ab), plain_desc({rows, out}), {}};
      const dnnl::matmul::desc d = bias.is_zero() ? dnnl::matmul::desc(p.src, weights, p.dst)
                                                  : dnnl::matmul::desc(p.src, weights, bias, p.dst);
      // Several threads run these primitives at once: each brings its own scratchpad (the
      // library's would be one buffer shared by all).
      dnnl::primitive_attr attr = strict_attr(ops);
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (int8_) attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});  // per output channel
      const dnnl::matmul::primitive_desc pd(d, attr, cpu_engine());
      scratchpad_bytes_ = std::max(scratchpad_bytes_, pd.scratchpad_desc().get_size());
      p.scratchpad = pd.scratchpad_desc();
      p.prim = dnnl::matmul(pd);
      problems_.push_back(std::move(p));
    }
    chunks_.push_back({start, rows, index});
    start += rows;
  }
}

void RowChunkedMatmul::execute(dnnl::memory::dim items, const float* src, float* dst,
                               const dnnl::memory& weights, const dnnl::memory* bias,
                               const Int8Scales* int8) const {
  if (int8_ && (int8 == nullptr || !int8->output || int8->u8 != u8_src_))
    throw Error(ErrorKind::kInternal, "", "an int8 matmul without its scales");
  const bool convert = bf16_src_ || int8_;  // the source is always staged, converted
  const auto per_item = static_cast<dnnl::memory::dim>(chunks_.size());
  const dnnl::memory::dim total = items * per_item;
  const auto aligned = [](const float* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; };
  std::exception_ptr error;
#pragma omp parallel
  {
    dnnl::stream stream(cpu_engine());  // one per thread: a stream is not shared between threads
    Buffer staged_src, staged_dst;
    const Buffer scratchpad((scratchpad_bytes_ + sizeof(float) - 1) / sizeof(float));
#pragma omp for schedule(static)
    for (dnnl::memory::dim j = 0; j < total; ++j) {
      try {
        const Chunk& c = chunks_[static_cast<std::size_t>(j % per_item)];
        const Problem& p = problems_[c.primitive];
        const dnnl::memory::dim row = (j / per_item) * rows_per_item_ + c.start;
        const float* in = src + row * in_;
        float* out = dst + row * out_;
        // Kernels may take other paths for other alignments (and round differently), so a
        // chunk that does not start on a 64-byte boundary (rows of 1000 logits) runs on an
        // aligned copy; dst is copied too, for a sum post-op.
        // bf16 / int8: the source is always staged, converted.
        const bool stage = !aligned(in) || !aligned(out);
        const auto in_count = static_cast<std::size_t>(c.rows * in_);
        const auto in_bytes = in_count * sizeof(float);
        const auto out_bytes = static_cast<std::size_t>(c.rows * out_) * sizeof(float);
        if (stage || convert) {
          if (staged_src.size() * sizeof(float) < in_bytes)
            staged_src = Buffer(in_bytes / sizeof(float));
          if (bf16_src_) {
            to_bf16(in, reinterpret_cast<std::uint16_t*>(staged_src.data()), in_count);
          } else if (u8_src_) {
            quantise_u8(in, reinterpret_cast<std::uint8_t*>(staged_src.data()), in_count,
                        int8->inverse_step, int8->zero_point);
          } else if (int8_) {
            quantise_s8(in, reinterpret_cast<std::int8_t*>(staged_src.data()), in_count,
                        int8->inverse_step);
          } else {
            std::memcpy(staged_src.data(), in, in_bytes);
          }
        }
        if (stage) {
          if (staged_dst.size() * sizeof(float) < out_bytes)
            staged_dst = Buffer(out_bytes / sizeof(float));
          std::memcpy(staged_dst.data(), out, out_bytes);
        }
        std::unordered_map<int, dnnl::memory> args{
            {DNNL_ARG_SRC, wrap(p.src, stage || convert ? staged_src.data() : in)},
            {DNNL_ARG_WEIGHTS, weights},
            {DNNL_ARG_DST, dnnl::memory(p.dst, cpu_engine(), stage ? staged_dst.data() : out)}};
        if (bias) args.emplace(DNNL_ARG_BIAS, *bias);
        if (int8_) args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES, int8->output);
        args.emplace(DNNL_ARG_SCRATCHPAD,
                     dnnl::memory(p.scratchpad, cpu_engine(), scratchpad.data()));
        p.prim.execute(stream, args);
        if (stage) std::memcpy(out, staged_dst.data(), out_bytes);
      } catch (...) {
#pragma omp critical
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

dnnl::memory wrap(const dnnl::memory::desc& desc, const float* data) {
  return dnnl::memory(desc, cpu_engine(), const_cast<float*>(data));
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

void run_guarded(const std::string& what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const dnnl::error& e) {
    throw Error(ErrorKind::kInternal, what, std::string("oneDNN: ") + e.what());
  }
}

std::size_t float_count(const dnnl::memory::desc& desc) {
  return (desc.get_size() + sizeof(float) - 1) / sizeof(float);
}

void to_bf16(const float* in, std::uint16_t* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, &in[i], sizeof u);
    // NaN stays a (quiet) NaN; everything else rounds to nearest, ties to even.
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      out[i] = static_cast<std::uint16_t>((u >> 16) | 0x40u);
    } else {
      out[i] = static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
  }
}

float int8_weight_levels() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto vnni = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_vnni);
  return (isa & vnni) == vnni ? 127.f : 63.f;
}

float step_of(float range, float levels) { return std::max(range, 1e-12f) / levels; }

namespace {

// q = round(x * inverse_step) clamped to [lo, hi], + zero_point, as T. SSE2 (every x86-64): the
// build targets no newer ISA, and std::nearbyint there is a libm call per value (it took a third
// of ViT-B/16's int8 time). cvtps2dq rounds to nearest even, as oneDNN's reorders do; values are
// clamped first, so the saturating packs are exact.
template <typename T>
void quantise(const float* in, T* out, std::size_t n, float inverse_step, float lo, float hi,
              int zero_point) {
  const __m128 scale = _mm_set1_ps(inverse_step), vlo = _mm_set1_ps(lo), vhi = _mm_set1_ps(hi);
  const __m128i zero = _mm_set1_epi32(zero_point);
  const auto q4 = [&](const float* p) {
    const __m128 v = _mm_min_ps(_mm_max_ps(_mm_mul_ps(_mm_loadu_ps(p), scale), vlo), vhi);
    return _mm_add_epi32(_mm_cvtps_epi32(v), zero);
  };
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_packs_epi32(q4(in + i), q4(in + i + 4));
    const __m128i b = _mm_packs_epi32(q4(in + i + 8), q4(in + i + 12));
    const __m128i q = std::is_signed_v<T> ? _mm_packs_epi16(a, b) : _mm_packus_epi16(a, b);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), q);
  }
  for (; i < n; ++i) {
    const float v = std::min(std::max(in[i] * inverse_step, lo), hi);
    out[i] = static_cast<T>(_mm_cvtss_si32(_mm_set_ss(v)) + zero_point);
  }
}

}  // namespace

void quantise_s8(const float* in, std::int8_t* out, std::size_t n, float inverse_step) {
  quantise(in, out, n, inverse_step, -127.f, 127.f, 0);
}

void quantise_u8(const float* in, std::uint8_t* out, std::size_t n, float inverse_step,
                 int zero_point, float max_q) {
  const auto z = static_cast<float>(zero_point);
  quantise(in, out, n, inverse_step, -z, max_q - z, zero_point);
}

bool kept_fp32(const std::string& name, const std::string& default_parts) {
  const char* env = std::getenv("BINSCAN_INT8_FP32");
  const std::string parts = env != nullptr ? env : default_parts;
  for (std::size_t start = 0; start <= parts.size();) {
    std::size_t end = parts.find(',', start);
    if (end == std::string::npos) end = parts.size();
    const std::string part = parts.substr(start, end - start);
    if (!part.empty() && name.find(part) != std::string::npos) return true;
    start = end + 1;
  }
  return false;
}

Buffer::Buffer(std::size_t floats) : size_(floats) {
  // 64-byte alignment: a cache line, and what oneDNN's AVX-512 kernels like best.
  const std::size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  data_.reset(static_cast<float*>(p));
}

void Buffer::Free::operator()(float* p) const { std::free(p); }

}  // namespace binscan::engine_internal

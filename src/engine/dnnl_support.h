// Engine-internal helpers around oneDNN: the CPU engine, strict-fp32 primitive attributes,
// activations as eltwise post-ops, weight preparation (reorder into the layout a primitive chose)
// and the OpenMP thread count. Not part of the engine's public interface.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "model/config.h"

namespace binscan::engine_internal {

// Where the engines get their parameters: the tensor `name` as float32 with the given shape
// (transformers' names and shapes). Throws Error(kCheckpoint) when missing or mis-shaped.
// Checkpoint weights in production, synthetic ones in benchmarks of the engine alone.
using WeightLoader = std::function<std::vector<float>(const std::string& name,
                                                      const std::vector<std::int64_t>& shape)>;

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine();

// Attributes every primitive starts from: fp32 math kept strict (no implicit bf16/tf32 down-
// conversion even if ONEDNN_DEFAULT_FPMATH_MODE says otherwise) so results match PyTorch.
dnnl::primitive_attr strict_attr();
dnnl::primitive_attr strict_attr(const dnnl::post_ops& ops);

// Appends transformers' ACT2FN[act] as an eltwise post-op (exactly the same function: gelu ->
// gelu_erf, gelu_new/gelu_pytorch_tanh -> gelu_tanh, silu -> swish(1), quick_gelu -> swish(1.702)).
void append_activation(dnnl::post_ops& ops, Activation act);

// A plain row-major f32 descriptor.
dnnl::memory::desc plain_desc(const dims& shape);

// Copies `plain` (laid out as `from`) into a new buffer in layout `to` (a reorder when the
// layouts differ). The returned memory owns its buffer; `plain` can be freed afterwards.
dnnl::memory prepare_weights(const std::vector<float>& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to);
// The same, quantising to an int8 `to`: each value times scales[i] of its index i along the
// dimensions in `mask` (1 / its step), rounded to nearest and saturated by the reorder.
dnnl::memory prepare_weights(const std::vector<float>& plain, const dnnl::memory::desc& from,
                             const dnnl::memory::desc& to, int mask,
                             const std::vector<float>& scales);

// A memory over a caller-owned buffer (oneDNN does not write to inputs; the const_cast only
// satisfies its C API).
dnnl::memory wrap(const dnnl::memory::desc& desc, const float* data);

// Sets the number of OpenMP threads oneDNN (and our own loops) use on the calling thread.
void set_threads(int threads);

// Runs `fn`, turning oneDNN's exceptions into Error(kInternal) naming `what`.
void run_guarded(const std::string& what, const std::function<void()>& fn);

// The size in floats of a descriptor's buffer (including any padding of blocked layouts; a bf16
// buffer takes half as many, rounded up).
std::size_t float_count(const dnnl::memory::desc& desc);

// Rounds `n` floats to bfloat16 (round to nearest even, as oneDNN's reorders and PyTorch do).
void to_bf16(const float* in, std::uint16_t* out, std::size_t n);

// A linear layer (matmul + optional bias + post-ops) over rows that are independent of each
// other, e.g. the tokens of a batch of images, run so that every row's result is the same bits
// whatever the batch size and the thread count, on every ISA oneDNN may pick.
//
// Why: oneDNN's multi-threaded matmul may split the reduction across threads, and picks other
// kernels for other row counts (AVX2's gemm takes a gemv path for one row and splits K for few
// rows), so a row's rounding depended on its batch there. Here each item's `rows_per_item` rows
// are cut into fixed chunks (by `rows_per_item` alone) and each chunk is one single-threaded
// problem (a primitive called inside a parallel region runs on the calling thread), so a row is
// always computed by the same kernel at the same place. The chunks of all items are spread over
// the threads. Cost, measured on ViT-B/16 at batch 8 on one thread: +13% at about 128 rows a
// chunk (197 tokens: 99 + 98, so batch 1 still keeps two threads busy), +16% at 64.
//
// bf16 weights make it a bf16 matmul: each chunk's rows are rounded to bf16 into a per-thread
// buffer on the way in, the destination (and bias, post-ops) stay fp32.
//
// s8 weights make it an int8 matmul (static quantisation): each chunk's rows are quantised to s8
// (or u8) into the per-thread buffer (quantise_s8 with the layer's Int8Scales), the int32
// sums are rescaled per output channel by runtime output scales (so one primitive serves every
// layer of the same shape) and the destination, bias and post-ops stay fp32. oneDNN 2.x adds the
// bias before the output scales: an int8 layer's bias is given in accumulator units (bias /
// output scale); the post-ops (activation, sum) come after them. Integer sums do not depend on
// their order, so the batch and thread independence holds too.
struct Int8Scales {
  float inverse_step = 0;  // 1 / the step of the layer's input (from its calibrated range)
  dnnl::memory output;     // [out] f32: the input's step x each output channel's weight step
  // A u8 input with this zero point (an input bounded below, e.g. GELU's output: 8 bits over its
  // range instead of 7 for the positive half); its correction is folded into the bias.
  bool u8 = false;
  int zero_point = 0;
};

// The step of a tensor with largest |value| `range` in `levels` steps (never 0: an input that
// was all zeros in calibration quantises to zeros whatever the step).
float step_of(float range, float levels);

// The largest |q| of an int8 matmul's weights: 127 with AVX-512 VNNI (or AMX); 63 without, where
// oneDNN multiplies the 8-bit source (an s8 one shifted to u8) by the s8 weights with vpmaddubsw,
// whose pairwise int16 sums saturate past 32767: 2 x 255 x 63 fits, 2 x 255 x 127 would not.
float int8_weight_levels();

// q = round(x * inverse_step) saturated to [-127, 127] (symmetric: -128 is never produced).
void quantise_s8(const float* in, std::int8_t* out, std::size_t n, float inverse_step);
// q = round(x * inverse_step) + zero_point saturated to [0, max_q] (max_q <= 255).
void quantise_u8(const float* in, std::uint8_t* out, std::size_t n, float inverse_step,
                 int zero_point, float max_q = 255.f);

class RowChunkedMatmul {
 public:
  RowChunkedMatmul() = default;
  // `weights` and `bias` fix the layouts (bias may be a zero desc for none).
  // `u8_src`: with s8 weights, a u8 source (Int8Scales::u8) instead of s8.
  RowChunkedMatmul(dnnl::memory::dim rows_per_item, dnnl::memory::dim in, dnnl::memory::dim out,
                   const dnnl::memory::desc& weights, const dnnl::memory::desc& bias,
                   const dnnl::post_ops& ops = dnnl::post_ops(), bool u8_src = false);
  // src [items * rows_per_item, in] and dst [items * rows_per_item, out], dense row-major.
  // `int8`: required with s8 weights, ignored otherwise.
  void execute(dnnl::memory::dim items, const float* src, float* dst, const dnnl::memory& weights,
               const dnnl::memory* bias, const Int8Scales* int8 = nullptr) const;
  // The row count of the largest chunk: what the weights' preferred layout is chosen for.
  static dnnl::memory::dim chunk_rows(dnnl::memory::dim rows_per_item);

 private:
  struct Chunk {
    dnnl::memory::dim start, rows;
    std::size_t primitive;
  };
  struct Problem {
    dnnl::memory::dim rows;
    dnnl::matmul prim;
    dnnl::memory::desc src, dst, scratchpad;
  };
  std::vector<Chunk> chunks_;
  std::vector<Problem> problems_;  // one per distinct chunk row count
  dnnl::memory::dim rows_per_item_ = 0, in_ = 0, out_ = 0;
  bool bf16_src_ = false, int8_ = false, u8_src_ = false;
  std::size_t scratchpad_bytes_ = 0;  // the largest problem's; each thread allocates its own
};

// int8's exceptions by module path: whether `name` contains one of the comma-separated parts of
// $BINSCAN_INT8_FP32 (for measuring), else of `default_parts` ("" none: everything in int8).
bool kept_fp32(const std::string& name, const std::string& default_parts);

// A float buffer aligned for oneDNN's vector loads, shared by several memory objects.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t floats);
  float* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace binscan::engine_internal

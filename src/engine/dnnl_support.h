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
class RowChunkedMatmul {
 public:
  RowChunkedMatmul() = default;
  // `weights` and `bias` fix the layouts (bias may be a zero desc for none).
  RowChunkedMatmul(dnnl::memory::dim rows_per_item, dnnl::memory::dim in, dnnl::memory::dim out,
                   const dnnl::memory::desc& weights, const dnnl::memory::desc& bias,
                   const dnnl::post_ops& ops = dnnl::post_ops());
  // src [items * rows_per_item, in] and dst [items * rows_per_item, out], dense row-major.
  void execute(dnnl::memory::dim items, const float* src, float* dst, const dnnl::memory& weights,
               const dnnl::memory* bias) const;
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
  bool bf16_src_ = false;
  std::size_t scratchpad_bytes_ = 0;  // the largest problem's; each thread allocates its own
};

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

// The pre-LayerNorm transformer encoder shared by ViT and both CLIP towers (engine-internal):
// LayerNorm -> self-attention -> residual, LayerNorm -> MLP -> residual, on oneDNN.
//
// Activations stay plain row-major [tokens, hidden] so every linear layer is one matmul over all
// tokens of the batch (RowChunkedMatmul: fixed single-threaded chunks per item, so an item's
// result is the same bits whatever its batch and the thread count), with bias, activation and
// the residual add fused as post-ops; weights are reordered once into the blocked layout the
// matmul prefers. Attention uses strided views into the fused QKV output (no transposes): Q K^T
// per (item, head) is one matmul with the 1/sqrt(d) scale fused (and, for causal attention, the
// mask added as a post-op), the softmax primitive, and a second matmul writing the head straight
// back into [tokens, hidden] order; the (item, head) problems are spread over the threads, each
// on one. Only one row per item is pooled (ViT's and CLIP's class token, CLIP's end-of-text
// token), so the last layer computes keys and values for every token but queries, attention
// output and MLP for the pooled row alone: exact (later rows never reach it), ~7% less work.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/dnnl_support.h"
#include "engine/engine.h"
#include "model/config.h"

namespace binscan::engine_internal {

// nn.Linear prepared for the matmul primitive: the logical [in, out] matrix in oneDNN's
// preferred layout, and the bias as [1, out] (absent when has_bias is false). int8: s8 weights,
// the bias in accumulator units, and the scales (see RowChunkedMatmul).
struct Linear {
  dnnl::memory weights;
  dnnl::memory bias;
  bool has_bias = false;
  Int8Scales int8;
  bool is_int8() const { return int8.inverse_step > 0; }
};

// `weight` is nn.Linear's [out, in] row-major. `ref_rows`: the row count the layout is chosen
// for (RowChunkedMatmul::chunk_rows of the rows it runs over). `bf16`: weights rounded to bf16
// once; the bias stays fp32. An empty `bias` is none.
Linear make_linear(const std::vector<float>& weight, const std::vector<float>& bias,
                   dnnl::memory::dim in, dnnl::memory::dim out, dnnl::memory::dim ref_rows,
                   bool bf16 = false);
// The same in int8: weights symmetric per output channel (step max |w| / int8_weight_levels()),
// the input quantised to s8 with step `input_range` / 127 (its calibrated largest |value|), or,
// given `input_floor` (a lower bound of the input, e.g. GELU's minimum), to u8 over
// [floor, range] with a zero point.
Linear make_int8_linear(const std::vector<float>& weight, const std::vector<float>& bias,
                        dnnl::memory::dim in, dnnl::memory::dim out, dnnl::memory::dim ref_rows,
                        float input_range, std::optional<float> input_floor = std::nullopt);

// A Linear's matmul over `rows_per_item` rows of each item (see RowChunkedMatmul). Made for one
// layer's weights, run with any layer's of the same shapes and layouts.
RowChunkedMatmul row_linear(dnnl::memory::dim rows_per_item, const Linear& lin,
                            dnnl::memory::dim in, dnnl::memory::dim out,
                            const dnnl::post_ops& ops = dnnl::post_ops());
void run_linear(const RowChunkedMatmul& mm, const Linear& lin, dnnl::memory::dim items,
                const float* src, float* dst);

// A sum post-op: the matmul adds onto its destination (the residual connection).
dnnl::post_ops sum_op();

struct LayerNorm {
  dnnl::memory gamma, beta;
};
LayerNorm make_layer_norm(const std::vector<float>& gamma, const std::vector<float>& beta);

// LayerNorm over the rows of a plain [rows, hidden] buffer, for a fixed row count.
class RowLayerNorm {
 public:
  RowLayerNorm() = default;
  RowLayerNorm(dnnl::memory::dim rows, dnnl::memory::dim hidden, double eps);
  // src may equal dst. Synchronous.
  void run(dnnl::stream& stream, const float* src, float* dst, const LayerNorm& ln) const;

 private:
  dnnl::memory::desc desc_;
  dnnl::layer_normalization_forward prim_;
};

// A ViT-style patch embedding's input: each patch of `pixels` [n, C, S, S] flattened in (channel,
// row, column) order -- the order of the conv weight [H, C, p, p] -- into dst [n * g * g, C*p*p],
// g = S / p (a conv with stride = kernel floors).
void patchify(const float* pixels, dnnl::memory::dim n, dnnl::memory::dim channels,
              dnnl::memory::dim image_size, dnnl::memory::dim patch, float* dst);

// x [n, 1 + P, H] = concat(class token, patch embeddings [n, P, H]) + position embeddings;
// `cls_pos` is the class token plus position 0, `position` all positions [1 + P, H].
void embed_patches(dnnl::memory::dim n, dnnl::memory::dim patches, dnnl::memory::dim hidden,
                   const float* patch_out, const float* cls_pos, const float* position, float* x);

// What the encoder's shapes and arithmetic are.
struct EncoderSpec {
  dnnl::memory::dim hidden = 0, heads = 0, intermediate = 0;
  int layers = 0;
  Activation act = Activation::kGelu;
  double layer_norm_eps = 1e-12;
  bool qkv_bias = true;
  bool bf16 = false;
  // int8 (with a range for every quantised layer's input, by the module path of LayerNames::q,
  // out, fc1, fc2): qkv, the attention output projection, fc1 and fc2 of every layer in int8
  // (see EncoderWeights); the caller's, needed during construction only.
  const ActivationRanges* int8_ranges = nullptr;
};

// The checkpoint names of layer i's tensors, without ".weight"/".bias".
struct LayerNames {
  std::string q, k, v, out, fc1, fc2, ln_before, ln_after;
};

// The weights of every layer, loaded and laid out once; run by EncoderRunners of any length.
class EncoderWeights {
 public:
  EncoderWeights() = default;
  // `ref_tokens`: the token count the weight layouts are chosen for (the usual sequence length).
  EncoderWeights(const EncoderSpec& spec, const WeightLoader& load,
                 const std::function<LayerNames(int)>& names, dnnl::memory::dim ref_tokens);
  const EncoderSpec& spec() const { return spec_; }
  bool int8() const { return int8_; }  // made with int8_ranges

 private:
  friend class EncoderRunner;
  struct Layer {
    LayerNames names;
    LayerNorm before, after;
    Linear qkv;    // fused [H, 3H]: every layer but the last
    Linear q, kv;  // the last layer: queries (pooled row only) and fused keys/values [H, 2H]
    Linear out, fc1, fc2;
  };
  EncoderSpec spec_;
  bool int8_ = false;
  std::vector<Layer> layers_;
};

// The encoder over items of exactly `tokens` rows each, pooling row `pooled_row` of every item.
// `causal`: each row attends to itself and the rows before it (CLIP's text tower). Buffers and
// primitives per batch size are made on first use and reused. Not thread-safe.
class EncoderRunner {
 public:
  EncoderRunner(const EncoderWeights& weights, dnnl::memory::dim tokens,
                dnnl::memory::dim pooled_row, bool causal);
  ~EncoderRunner();
  EncoderRunner(const EncoderRunner&) = delete;
  EncoderRunner& operator=(const EncoderRunner&) = delete;
  // Where the caller writes the embeddings of `items` items: [items * tokens, hidden].
  float* input(dnnl::memory::dim items);
  // Runs every layer over input(items) (which it overwrites) and returns the pooled rows after
  // the last layer, [items, hidden] (before any final LayerNorm), valid until the next call.
  const float* forward(dnnl::memory::dim items, dnnl::stream& stream);
  // Calibration: while set, forward() widens ranges[name] to the largest |value| entering each
  // linear layer int8 quantises (named as in EncoderSpec::int8_ranges). fp32 weights only.
  void observe_ranges(ActivationRanges* ranges);

 private:
  struct Attention;
  struct Plan;
  // A kind of linear layer's matmuls over every token: for its fp32 (or bf16) layers and for its
  // int8 ones (BINSCAN_INT8_FP32 may keep some layers of a kind in fp32).
  struct Matmuls {
    RowChunkedMatmul plain, int8;
    const RowChunkedMatmul& of(const Linear& lin) const { return lin.is_int8() ? int8 : plain; }
  };
  Plan& plan(dnnl::memory::dim items);
  void observe(const std::string& name, const float* values, dnnl::memory::dim count);

  const EncoderWeights* weights_;
  dnnl::memory::dim tokens_, pooled_row_;
  bool causal_;
  Matmuls qkv_, out_, fc1_, fc2_, kv_;                        // every token
  RowChunkedMatmul q_pool_, out_pool_, fc1_pool_, fc2_pool_;  // the last layer's pooled row
  ActivationRanges* observed_ = nullptr;
  Buffer mask_;  // causal: [tokens, tokens], 0 on and below the diagonal, lowest float above
  std::map<dnnl::memory::dim, std::unique_ptr<Plan>> plans_;
};

}  // namespace binscan::engine_internal

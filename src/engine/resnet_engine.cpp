// ResNetForImageClassification (transformers' modeling_resnet.py, eval mode) on oneDNN.
//
// Every ResNetConvLayer is one convolution primitive: BatchNorm folded into the weights and a
// bias, the activation fused as an eltwise post-op, and for the last conv of a residual block
// the residual add fused as a sum post-op (the conv writes onto the shortcut's output, or onto
// the block input itself for an identity shortcut) followed by the block's activation.
// Activations stay in one channel-blocked layout (nChw16c on AVX-512, see activation_layout)
// from the stem, which reads the NCHW input directly, to the global pool; weights are reordered
// once into the layout oneDNN chose for them at the reference input size. Where a primitive wants
// another layout a reorder is inserted. Activation buffers are slots reused as soon as a value is
// dead, each sized for the largest value it ever holds. With bf16 (Precision::kBf16) a
// convolution's weights are bf16 and its input a bf16 copy (the same reorder step, converting);
// its output, and so the residual sums, activations and pooling, stay fp32.
//
// int8 (Precision::kInt8, static post-training quantisation): every convolution but the stem
// takes int8 weights (symmetric, one scale per output channel: max |w| / 127 of the BatchNorm-
// folded weights) and an 8-bit input with one scale per tensor from the calibration's range
// (u8 after a ReLU, else s8), accumulates in int32 and rescales per output channel in the same
// primitive (output scales; the bias is given in accumulator units, as oneDNN 2.x adds it before
// scaling). A block's inner convolutions write u8 straight in the next one's scale (fused
// requantisation); the last one writes fp32, so the residual sum, the block's activation, the
// pooling and the classifier stay fp32, as do the stem (3 input channels: little to gain, and
// its input is the raw normalised pixels) and the downsampling shortcuts (see kept_fp32).
// Quantising an fp32 activation is the reorder step that already converts layouts. Integer sums do
// not depend on their order, so the batch and thread independence holds as in fp32.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>

#include "engine/engines.h"
#include "util/error.h"

namespace binscan::engine_internal {
namespace {

using dnnl::memory;

constexpr double kBatchNormEps = 1e-5;  // nn.BatchNorm2d's default; transformers keeps it

// A ResNetConvLayer (or ResNetShortCut): conv without bias + BatchNorm2d (+ activation).
struct Conv {
  std::string name;  // module path, for messages
  memory::dim in = 0, out = 0, kernel = 1, stride = 1;
  memory weights;  // folded, in the layout chosen for the reference input
  memory bias;     // folded BatchNorm shift [out]
  std::optional<Activation> act;
  bool residual = false;  // adds the destination's previous content (sum) before `act`
  bool stem = false;      // reads the caller's NCHW input: its source layout is oneDNN's choice
  tag layout = tag::any;  // activation layout (see activation_layout)
  dt src_type = dt::f32;  // bf16: a bf16 convolution (its input rounded to bf16 by a reorder)
  dt dst_type = dt::f32;  // bf16 for a block's inner convs in bf16 (see load_conv), u8 in int8
  // int8: the input's step (real = q * in_scale; 0: not int8), one weight step per output
  // channel, and the step of a u8 destination (the next conv's in_scale).
  float in_scale = 0;
  std::vector<float> w_scales;
  float out_scale = 0;

  bool int8() const { return in_scale > 0; }
  // What turns the int32 accumulator (plus the bias, in the same units) into the destination.
  std::vector<float> output_scales() const {
    std::vector<float> s(w_scales.size());
    for (std::size_t o = 0; o < s.size(); ++o)
      s[o] = in_scale * w_scales[o] / (dst_type == dt::u8 && out_scale > 0 ? out_scale : 1.f);
    return s;
  }

  memory::dim pad() const { return kernel / 2; }
  memory::dim out_size(memory::dim in_size) const {
    return (in_size + 2 * pad() - kernel) / stride + 1;
  }
};

struct Block {
  std::optional<Conv> shortcut;
  std::vector<Conv> convs;  // the last one carries `residual` and the block's activation
};

dnnl::convolution_forward::primitive_desc conv_pd(const Conv& c, const memory::desc& src,
                                                  const memory::desc& weights,
                                                  const memory::desc& dst) {
  dnnl::post_ops ops;
  if (c.residual) ops.append_sum(1.f);
  if (c.act) append_activation(ops, *c.act);
  const memory::desc bias = plain_desc({c.out});
  dnnl::primitive_attr attr = strict_attr(ops);
  if (c.int8()) attr.set_output_scales(1 << 1, c.output_scales());  // per output channel
  // Symmetric padding: oneDNN then derives PyTorch's floor((in + 2p - k) / s) + 1 output size.
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                      dnnl::algorithm::convolution_direct, src, weights, bias, dst,
                                      {c.stride, c.stride}, {c.pad(), c.pad()}, {c.pad(), c.pad()}),
      attr, cpu_engine());
}

memory::desc any_desc(memory::dim n, memory::dim c, memory::dim h, memory::dim w) {
  return memory::desc(dims{n, c, h, w}, dt::f32, tag::any);
}

// The activation layout the convolutions work in. Left to oneDNN ("any"), 2.6 picks its brgemm
// convolutions on NHWC on AVX-512; its direct JIT convolutions on channel-blocked nChw16c
// (nChw8c on AVX2) measured ~5% faster for ResNet-50 at batch 8 on the 2-core Zen 4 this was
// tuned on (36.9 vs 38.7 ms/image; on par at batch 1), and the stem then reads NCHW directly.
// int8 convolutions run in NHWC (oneDNN 2.6's int8 kernels, brgemm and direct, want it).
// BINSCAN_RESNET_LAYOUT=any|nhwc|nChw16c|nChw8c overrides (for measuring).
bool has_isa(dnnl::cpu_isa want) {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto w = static_cast<unsigned>(want);
  return (isa & w) == w;
}

tag activation_layout(bool int8) {
  const char* env = std::getenv("BINSCAN_RESNET_LAYOUT");
  const std::string v = env ? env : "";
  if (v == "any") return tag::any;
  if (v == "nhwc") return tag::nhwc;
  if (v == "nChw16c") return tag::nChw16c;
  if (v == "nChw8c") return tag::nChw8c;
  const auto has = has_isa;
  if (int8 && has(dnnl::cpu_isa::avx2)) return tag::nhwc;
  if (has(dnnl::cpu_isa::avx512_core)) return tag::nChw16c;
  if (has(dnnl::cpu_isa::avx2)) return tag::nChw8c;
  return tag::any;
}

bool is_reference(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

memory::desc act_desc(tag layout, memory::dim n, memory::dim c, memory::dim h, memory::dim w,
                      dt type = dt::f32) {
  return memory::desc(dims{n, c, h, w}, type, layout);
}

// A conv's source: the caller's NCHW input for the stem (oneDNN chooses), else an activation.
memory::desc conv_src_desc(const Conv& c, memory::dim n, memory::dim h, memory::dim w) {
  if (c.stem) return memory::desc(dims{n, c.in, h, w}, c.src_type, tag::any);
  return act_desc(c.layout, n, c.in, h, w, c.src_type);
}

// The largest value an unsigned 8-bit input may take. Without VNNI, oneDNN multiplies u8 by s8
// with vpmaddubsw, whose pairwise int16 sums saturate past 32767 (2 x 255 x 127 would): 7 bits
// there (2 x 127 x 127 fits), the full 8 with VNNI's int32 sums.
float u8_max() { return has_isa(dnnl::cpu_isa::avx512_core_vnni) ? 255.f : 127.f; }

// The convolutions int8 leaves in fp32 (besides the stem): the downsampling shortcuts. Measured
// on the random-weight ResNet-50 over the 41 shared photos (bench/fidelity): all in int8, the
// largest score change was 0.079 and the top-5 set agreed with fp32 on 6 photos; with the 4
// shortcuts (9% of the multiply-adds) in fp32, 0.020 and 16, for ~6% more time (noisy, loaded
// machine). For measuring: BINSCAN_INT8_FP32=PART,PART keeps instead the convolutions whose
// module path contains one of the parts ("" none: everything in int8).
constexpr const char* kKeptFp32 = ".shortcut";

// q = min(round(x * inverse_step), max), x >= 0 (a ReLU's output), over n values in the same
// layout, with the transformer's quantise loop (dnnl_support.h) on each thread's share. oneDNN
// 2.6's reorder with output scales (jit:uni) took a quarter of ResNet-50's int8 time at batch 8
// (25 of them); this is one pass at memory speed over all threads, rounding as the reorder does.
void quantise_relu_u8(const float* in, std::uint8_t* out, std::size_t n, float inverse_step,
                      float max) {
#pragma omp parallel
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    const auto k = static_cast<std::size_t>(omp_get_num_threads());
    const std::size_t begin = n * t / k, end = n * (t + 1) / k;
    quantise_u8(in + begin, out + begin, end - begin, inverse_step, 0, max);
  }
}

class ResNetEngine final : public Engine {
 public:
  ResNetEngine(const ResNetConfig& config, int num_labels, const WeightLoader& load, int threads,
               int ref_height, int ref_width, Precision precision, const ActivationRanges* ranges);
  Tensor forward(const Tensor& pixel_values) override;
  void observe_ranges(ActivationRanges* ranges) override;

 private:
  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, memory> args;
    const std::string* observe = nullptr;  // a conv's name: its input is what calibration sees
    float quantise_step = 0;               // > 0: quantise_relu_u8(FROM, TO) instead of `prim`
  };
  struct Plan {
    std::vector<Buffer> slots;
    std::vector<Step> steps;
    memory input;             // wraps the caller's pixel_values at each call
    const float* features{};  // the pooled features [n, features]
    Buffer logits;            // [n, labels]
  };
  using PlanKey = std::tuple<memory::dim, memory::dim, memory::dim>;

  Conv load_conv(const WeightLoader& load, const std::string& prefix, memory::dim in,
                 memory::dim out, memory::dim kernel, memory::dim stride,
                 std::optional<Activation> act, bool residual, memory::dim& h, memory::dim& w);
  Plan build_plan(memory::dim n, memory::dim h, memory::dim w) const;

  void observe(const Step& step);

  ResNetConfig config_;
  memory::dim labels_ = 0, features_ = 0;
  int threads_;
  bool bf16_ = false, int8_ = false;
  const ActivationRanges* ranges_ = nullptr;  // int8: the calibration (during construction)
  ActivationRanges* observed_ = nullptr;      // calibrating: where ranges are widened
  tag layout_;
  Conv stem_;
  std::vector<Block> blocks_;
  memory classifier_w_, classifier_b_;
  RowChunkedMatmul classifier_;  // one image a problem: see RowChunkedMatmul
  std::map<PlanKey, Plan> plans_;
  dnnl::stream stream_;
};

Conv ResNetEngine::load_conv(const WeightLoader& load, const std::string& prefix, memory::dim in,
                             memory::dim out, memory::dim kernel, memory::dim stride,
                             std::optional<Activation> act, bool residual, memory::dim& h,
                             memory::dim& w) {
  Conv c;
  c.name = prefix;
  c.in = in;
  c.out = out;
  c.kernel = kernel;
  c.stride = stride;
  c.act = act;
  c.residual = residual;
  auto weight = load(prefix + ".convolution.weight", {out, in, kernel, kernel});
  const auto gamma = load(prefix + ".normalization.weight", {out});
  const auto beta = load(prefix + ".normalization.bias", {out});
  const auto mean = load(prefix + ".normalization.running_mean", {out});
  const auto var = load(prefix + ".normalization.running_var", {out});
  // BN(conv(x)) = conv(x) * s + (beta - mean * s), s = gamma / sqrt(var + eps): computed in
  // double, rounded once.
  std::vector<float> bias(static_cast<std::size_t>(out));
  const std::size_t per_out = static_cast<std::size_t>(in * kernel * kernel);
  for (std::size_t o = 0; o < bias.size(); ++o) {
    const double s =
        static_cast<double>(gamma[o]) / std::sqrt(static_cast<double>(var[o]) + kBatchNormEps);
    bias[o] = static_cast<float>(beta[o] - mean[o] * s);
    for (std::size_t i = o * per_out; i < (o + 1) * per_out; ++i)
      weight[i] = static_cast<float>(weight[i] * s);
  }
  const memory::dim oh = c.out_size(h), ow = c.out_size(w);
  if (oh < 1 || ow < 1)
    throw Error(ErrorKind::kUnsupported, prefix, "the input image is too small for this model");
  // The layout oneDNN prefers at the reference size (batch 1); imposed on every other plan.
  c.stem = prefix == "resnet.embedder.embedder";
  // A bf16 block's inner convs (not the last, which adds the residual) feed only the next conv,
  // which rounds its input to bf16 anyway: writing bf16 gives the same numbers and saves a
  // reorder and half the memory traffic.
  const bool inner = !residual && prefix.find(".layer.") != std::string::npos;
  // int8: the input of a block's first conv and its shortcut is the previous block's output
  // (hidden_act), every other conv's a ReLU's.
  const bool first = prefix.ends_with(".layer.0") || prefix.ends_with(".shortcut");
  const bool input_relu = !first || config_.hidden_act == Activation::kRelu;
  std::vector<float> w_scales, qbias;
  if (ranges_ != nullptr && !c.stem && !kept_fp32(prefix, kKeptFp32)) {
    const auto range = ranges_->find(prefix);
    if (range == ranges_->end())
      throw Error(ErrorKind::kConfig, prefix,
                  "the calibration has no range for this layer (made for another model?)");
    c.in_scale = step_of(range->second, input_relu ? u8_max() : 127.f);
    // Symmetric per-output-channel weight steps; the bias in accumulator units.
    w_scales.resize(static_cast<std::size_t>(out));
    qbias.resize(w_scales.size());
    for (std::size_t o = 0; o < w_scales.size(); ++o) {
      float m = 0;
      for (std::size_t i = o * per_out; i < (o + 1) * per_out; ++i)
        m = std::max(m, std::abs(weight[i]));
      w_scales[o] = step_of(m, 127.f);
      qbias[o] = static_cast<float>(bias[o] / (static_cast<double>(c.in_scale) * w_scales[o]));
    }
    c.w_scales = w_scales;
  }
  const auto make = [&](tag layout, dt type) {
    c.layout = layout;
    c.src_type = type;
    const bool quantised = type == dt::u8 || type == dt::s8;
    c.dst_type = inner ? (quantised ? dt::u8 : type) : dt::f32;
    return conv_pd(c, conv_src_desc(c, 1, h, w),
                   memory::desc(dims{out, in, kernel, kernel}, quantised ? dt::s8 : type, tag::any),
                   act_desc(layout, 1, out, oh, ow, c.dst_type));
  };
  // bf16 / int8 where oneDNN has a native kernel for the shape, else fp32 (the destination is
  // fp32 either way but for inner convs, so the residual sums and activations stay fp32).
  std::vector<dt> types{dt::f32};
  if (bf16_) types.insert(types.begin(), dt::bf16);
  if (c.int8()) types.insert(types.begin(), input_relu ? dt::u8 : dt::s8);
  std::optional<dnnl::convolution_forward::primitive_desc> pd;
  for (const dt type : types) {
    if (type == dt::f32 && c.int8()) {  // no int8 kernel for the shape: this conv stays fp32
      c.in_scale = 0;
      c.w_scales.clear();
    }
    pd = make(layout_, type);
    if (is_reference(*pd) && layout_ != tag::any) pd = make(tag::any, type);  // no fast kernel
    if (!is_reference(*pd)) break;                                            // in `layout_`
  }
  if (c.int8()) {
    // f32 -> s8 with 1 / step per output channel (dimension 0 of OIHW): the reorder rounds and,
    // where the kernel needs them, adds oneDNN's compensation terms to the weights' buffer.
    std::vector<float> inverse(w_scales.size());
    for (std::size_t o = 0; o < inverse.size(); ++o) inverse[o] = 1.f / w_scales[o];
    c.weights = prepare_weights(weight, plain_desc({out, in, kernel, kernel}), pd->weights_desc(),
                                1 << 0, inverse);
    c.bias = prepare_weights(qbias, plain_desc({out}), plain_desc({out}));
  } else {
    c.weights = prepare_weights(weight, plain_desc({out, in, kernel, kernel}), pd->weights_desc());
    c.bias = prepare_weights(bias, plain_desc({out}), plain_desc({out}));
  }
  h = oh;
  w = ow;
  return c;
}

ResNetEngine::ResNetEngine(const ResNetConfig& c, int num_labels, const WeightLoader& load,
                           int threads, int ref_height, int ref_width, Precision precision,
                           const ActivationRanges* ranges)
    : config_(c),
      threads_(threads),
      bf16_(precision == Precision::kBf16),
      int8_(precision == Precision::kInt8),
      ranges_(precision == Precision::kInt8 ? ranges : nullptr),
      layout_(activation_layout(precision == Precision::kInt8)),
      stream_(cpu_engine()) {
  if (precision == Precision::kInt8 && ranges == nullptr)
    throw Error(ErrorKind::kConfig, "--precision int8", "int8 needs a calibration");
  if (c.hidden_sizes.empty() || c.depths.size() != c.hidden_sizes.size() || c.embedding_size <= 0 ||
      c.num_channels <= 0)
    throw Error(ErrorKind::kConfig, "config.json",
                "hidden_sizes and depths must be non-empty and of equal length");
  for (std::size_t i = 0; i < c.depths.size(); ++i) {
    const int reduction = c.layer_type == ResNetConfig::LayerType::kBottleneck ? 4 : 1;
    if (c.depths[i] < 1 || c.hidden_sizes[i] < reduction)
      throw Error(ErrorKind::kConfig, "config.json", "invalid ResNet stage dimensions");
  }
  if (num_labels <= 0) throw Error(ErrorKind::kConfig, "config.json", "the model has no labels");
  labels_ = num_labels;
  features_ = c.hidden_sizes.back();
  set_threads(threads_);

  run_guarded("ResNet weights", [&] {
    memory::dim h = ref_height, w = ref_width;
    // Embedder: conv 7x7/2 + BN + hidden_act (then the 3x3/2 max pool).
    stem_ = load_conv(load, "resnet.embedder.embedder", c.num_channels, c.embedding_size, 7, 2,
                      c.hidden_act, false, h, w);
    h = (h + 2 - 3) / 2 + 1;
    w = (w + 2 - 3) / 2 + 1;
    const bool bottleneck = c.layer_type == ResNetConfig::LayerType::kBottleneck;
    memory::dim in = c.embedding_size;
    for (std::size_t s = 0; s < c.hidden_sizes.size(); ++s) {
      const memory::dim out = c.hidden_sizes[s];
      for (int j = 0; j < c.depths[s]; ++j) {
        const std::string p =
            "resnet.encoder.stages." + std::to_string(s) + ".layers." + std::to_string(j);
        const memory::dim stride = j > 0 ? 1 : (s > 0 || c.downsample_in_first_stage ? 2 : 1);
        const memory::dim block_in = j == 0 ? in : out;
        Block b;
        memory::dim bh = h, bw = w;
        if (block_in != out || stride != 1) {
          memory::dim sh = h, sw = w;
          b.shortcut = load_conv(load, p + ".shortcut", block_in, out, 1, stride, std::nullopt,
                                 false, sh, sw);
        }
        // Inner convs use ResNetConvLayer's default activation, relu; the block's own
        // activation (after the residual add) is hidden_act.
        if (bottleneck) {
          const memory::dim r = out / 4;
          // downsample_in_bottleneck moves the stride from the 3x3 to the first 1x1 conv.
          const memory::dim s1 = c.downsample_in_bottleneck ? stride : 1;
          const memory::dim s2 = c.downsample_in_bottleneck ? 1 : stride;
          b.convs.push_back(load_conv(load, p + ".layer.0", block_in, r, 1, s1, Activation::kRelu,
                                      false, bh, bw));
          b.convs.push_back(
              load_conv(load, p + ".layer.1", r, r, 3, s2, Activation::kRelu, false, bh, bw));
          b.convs.push_back(
              load_conv(load, p + ".layer.2", r, out, 1, 1, c.hidden_act, true, bh, bw));
        } else {
          b.convs.push_back(load_conv(load, p + ".layer.0", block_in, out, 3, stride,
                                      Activation::kRelu, false, bh, bw));
          b.convs.push_back(
              load_conv(load, p + ".layer.1", out, out, 3, 1, c.hidden_act, true, bh, bw));
        }
        h = bh;
        w = bw;
        // Fused requantisation: an int8 inner conv followed by another writes u8 in its step.
        for (std::size_t k = 0; k + 1 < b.convs.size(); ++k) {
          Conv& cur = b.convs[k];
          const Conv& next = b.convs[k + 1];
          if (!cur.int8()) continue;
          if (next.int8() && next.src_type == dt::u8) {
            cur.out_scale = next.in_scale;
          } else {
            cur.dst_type = dt::f32;
          }
        }
        blocks_.push_back(std::move(b));
      }
      in = out;
    }
    ranges_ = nullptr;  // the caller's; not needed after loading
    auto cw = load("classifier.1.weight", {labels_, features_});
    classifier_w_ = prepare_weights(cw, memory::desc(dims{features_, labels_}, dt::f32, tag::ba),
                                    memory::desc(dims{features_, labels_}, dt::f32, tag::ba));
    classifier_b_ = prepare_weights(load("classifier.1.bias", {labels_}), plain_desc({1, labels_}),
                                    plain_desc({1, labels_}));
    classifier_ =
        RowChunkedMatmul(1, features_, labels_, classifier_w_.get_desc(), classifier_b_.get_desc());
  });
}

ResNetEngine::Plan ResNetEngine::build_plan(memory::dim n, memory::dim h, memory::dim w) const {
  // Values are activations: a descriptor and the slot (buffer) holding them; slot -1 is the
  // caller's input. Steps name their activation arguments by value until buffers exist.
  struct Value {
    memory::desc md;
    int slot;
  };
  struct PendingStep {
    dnnl::primitive prim;
    std::vector<std::pair<int, int>> value_args;  // (DNNL_ARG_*, value)
    std::unordered_map<int, memory> fixed_args;   // weights, bias
    const std::string* observe = nullptr;
    float quantise_step = 0;
  };
  std::vector<Value> values;
  std::vector<std::size_t> slot_floats;
  std::vector<int> free_slots;
  std::vector<PendingStep> pending;

  const auto new_value = [&](const memory::desc& md) {
    int slot;
    if (!free_slots.empty()) {
      slot = free_slots.back();
      free_slots.pop_back();
    } else {
      slot = static_cast<int>(slot_floats.size());
      slot_floats.push_back(0);
    }
    slot_floats[static_cast<std::size_t>(slot)] =
        std::max(slot_floats[static_cast<std::size_t>(slot)], float_count(md));
    values.push_back({md, slot});
    return static_cast<int>(values.size()) - 1;
  };
  const auto release = [&](int value) {
    const int slot = values[static_cast<std::size_t>(value)].slot;
    if (slot >= 0) free_slots.push_back(slot);
  };
  const auto md_of = [&](int value) { return values[static_cast<std::size_t>(value)].md; };
  // Brings `value` into layout `want` (a reorder step and a new value when they differ). From
  // fp32 to an 8-bit `want` it quantises with `step`: q = x / step, rounded and saturated.
  const auto ensure = [&](int value, const memory::desc& want, float step) {
    if (md_of(value) == want) return value;
    const int v = new_value(want);
    // fp32 NHWC to u8 NHWC, the common case of int8: our own loop (see quantise_relu_u8).
    if (step > 0 && want == memory::desc(want.dims(), dt::u8, tag::nhwc) &&
        md_of(value) == memory::desc(want.dims(), dt::f32, tag::nhwc)) {
      pending.push_back({{}, {{DNNL_ARG_FROM, value}, {DNNL_ARG_TO, v}}, {}, nullptr, step});
      return v;
    }
    dnnl::primitive_attr attr = strict_attr();
    if (step > 0 && md_of(value).data_type() == dt::f32) attr.set_output_scales(0, {1.f / step});
    pending.push_back({dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), md_of(value),
                                                                   cpu_engine(), want, attr)),
                       {{DNNL_ARG_FROM, value}, {DNNL_ARG_TO, v}},
                       {}});
    return v;
  };
  // Adds a conv; returns its output value (`residual` itself when given). Does not release src.
  memory::dim ch = h, cw = w;
  const auto conv = [&](const Conv& c, int src, memory::dim& ih, memory::dim& iw,
                        std::optional<int> residual) {
    const memory::dim oh = c.out_size(ih), ow = c.out_size(iw);
    if (oh < 1 || ow < 1)
      throw Error(ErrorKind::kUnsupported, "pixel_values",
                  "the input image is too small for this model");
    const auto pd =
        conv_pd(c, conv_src_desc(c, n, ih, iw), c.weights.get_desc(),
                residual ? md_of(*residual) : act_desc(c.layout, n, c.out, oh, ow, c.dst_type));
    const int in = ensure(src, pd.src_desc(), c.in_scale);
    const int out = residual ? *residual : new_value(pd.dst_desc());
    pending.push_back({dnnl::convolution_forward(pd),
                       {{DNNL_ARG_SRC, in}, {DNNL_ARG_DST, out}},
                       {{DNNL_ARG_WEIGHTS, c.weights}, {DNNL_ARG_BIAS, c.bias}},
                       c.stem ? nullptr : &c.name});
    if (in != src) release(in);
    ih = oh;
    iw = ow;
    return out;
  };

  values.push_back({plain_desc({n, config_.num_channels, h, w}), -1});
  int cur = conv(stem_, 0, ch, cw, std::nullopt);
  {  // MaxPool2d(3, stride 2, padding 1), in whatever layout the stem produced.
    const memory::dim oh = (ch + 2 - 3) / 2 + 1, ow = (cw + 2 - 3) / 2 + 1;
    dnnl::pooling_forward::primitive_desc pd(
        dnnl::pooling_forward::desc(
            dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, md_of(cur),
            any_desc(n, config_.embedding_size, oh, ow), {2, 2}, {3, 3}, {1, 1}, {1, 1}),
        strict_attr(), cpu_engine());
    const int out = new_value(pd.dst_desc());
    pending.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, out}}, {}});
    release(cur);
    cur = out;
    ch = oh;
    cw = ow;
  }
  for (const Block& b : blocks_) {
    const int in = cur;
    int residual = in;
    if (b.shortcut) {
      memory::dim sh = ch, sw = cw;
      residual = conv(*b.shortcut, in, sh, sw, std::nullopt);
    }
    memory::dim bh = ch, bw = cw;
    int t = in;
    for (std::size_t k = 0; k < b.convs.size(); ++k) {
      const bool last = k + 1 == b.convs.size();
      const int next =
          conv(b.convs[k], t, bh, bw, last ? std::optional<int>(residual) : std::nullopt);
      if (t != in) release(t);
      t = next;
    }
    if (residual != in) release(in);
    cur = residual;
    ch = bh;
    cw = bw;
  }
  // AdaptiveAvgPool2d((1, 1)), then the classifier on the flattened features.
  {
    dnnl::pooling_forward::primitive_desc pd(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference,
                                    dnnl::algorithm::pooling_avg_exclude_padding, md_of(cur),
                                    any_desc(n, features_, 1, 1), {1, 1}, {ch, cw}, {0, 0}, {0, 0}),
        strict_attr(), cpu_engine());
    const int out = new_value(pd.dst_desc());
    pending.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, out}}, {}});
    release(cur);
    cur = ensure(out, plain_desc({n, features_, 1, 1}), 0);
  }
  Plan plan;
  plan.logits = Buffer(static_cast<std::size_t>(n * labels_));

  for (const std::size_t floats : slot_floats) plan.slots.emplace_back(floats);
  std::vector<memory> mems;
  for (const Value& v : values) {
    if (v.slot < 0) {
      mems.emplace_back(v.md, cpu_engine(), nullptr);
    } else {
      mems.emplace_back(v.md, cpu_engine(), plan.slots[static_cast<std::size_t>(v.slot)].data());
    }
  }
  plan.input = mems[0];
  for (PendingStep& ps : pending) {
    Step s{std::move(ps.prim), std::move(ps.fixed_args), ps.observe, ps.quantise_step};
    for (const auto& [arg, value] : ps.value_args)
      s.args.emplace(arg, mems[static_cast<std::size_t>(value)]);
    plan.steps.push_back(std::move(s));
  }
  plan.features =
      plan.slots[static_cast<std::size_t>(values[static_cast<std::size_t>(cur)].slot)].data();
  return plan;
}

Tensor ResNetEngine::forward(const Tensor& pixel_values) {
  const auto& s = pixel_values.shape;
  if (s.size() != 4 || s[0] < 1 || s[1] != config_.num_channels || s[2] < 1 || s[3] < 1 ||
      pixel_values.data.size() != static_cast<std::size_t>(pixel_values.numel()))
    throw Error(ErrorKind::kUnsupported, "pixel_values",
                "expected [N, " + std::to_string(config_.num_channels) +
                    ", H, W] for this model (the channel dimension must match the configuration)");
  set_threads(threads_);
  const memory::dim n = s[0];
  Tensor logits({n, labels_});
  run_guarded("ResNet forward", [&] {
    const PlanKey key{n, s[2], s[3]};
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(key, build_plan(n, s[2], s[3])).first;
    Plan& p = it->second;
    p.input.set_data_handle(const_cast<float*>(pixel_values.data.data()));
    for (const Step& step : p.steps) {
      if (observed_ != nullptr && step.observe != nullptr) observe(step);
      if (step.quantise_step > 0) {
        const memory& from = step.args.at(DNNL_ARG_FROM);
        quantise_relu_u8(static_cast<const float*>(from.get_data_handle()),
                         static_cast<std::uint8_t*>(step.args.at(DNNL_ARG_TO).get_data_handle()),
                         from.get_desc().get_size() / sizeof(float), 1.f / step.quantise_step,
                         u8_max());
      } else {
        step.prim.execute(stream_, step.args);
      }
    }
    stream_.wait();
    classifier_.execute(n, p.features, p.logits.data(), classifier_w_, &classifier_b_);
    std::memcpy(logits.data.data(), p.logits.data(), logits.data.size() * sizeof(float));
  });
  return logits;
}

void ResNetEngine::observe_ranges(ActivationRanges* ranges) {
  if (ranges != nullptr && (bf16_ || int8_))
    throw Error(ErrorKind::kUnsupported, "calibration", "calibrate with an fp32 engine");
  observed_ = ranges;
}

// Widens the range of the conv's input with the largest |value| of the input about to be read
// (in its logical elements: a blocked layout's padding is left out by reordering to NCHW).
void ResNetEngine::observe(const Step& step) {
  stream_.wait();
  memory src = step.args.at(DNNL_ARG_SRC);  // a handle: copies share the buffer
  const memory::desc md = src.get_desc();
  const memory::desc plain = plain_desc(md.dims());
  Buffer values(float_count(plain));
  memory dst(plain, cpu_engine(), values.data());
  dnnl::reorder(src, dst).execute(stream_, src, dst);
  stream_.wait();
  float m = 0;
  for (std::size_t i = 0; i < float_count(plain); ++i) m = std::max(m, std::abs(values.data()[i]));
  float& range = (*observed_)[*step.observe];
  range = std::max(range, m);
}

}  // namespace

std::unique_ptr<Engine> make_resnet_engine(const ResNetConfig& config, int num_labels,
                                           const WeightLoader& load, int threads, int ref_height,
                                           int ref_width, Precision precision,
                                           const ActivationRanges* ranges) {
  return std::make_unique<ResNetEngine>(config, num_labels, load, threads, ref_height, ref_width,
                                        precision, ranges);
}

}  // namespace binscan::engine_internal

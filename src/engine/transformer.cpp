#include "engine/transformer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <unordered_map>

#include "util/error.h"

namespace binscan::engine_internal {
namespace {

using dnnl::matmul;
using dnnl::memory;

// The weight layout matmul prefers for [rows, in] x [in, out]. Chosen once for a reference row
// count (the chunk size the layer runs at) and imposed on every primitive, so the weights exist
// once. `type`: f32, or bf16 for a bf16 matmul (bf16 source and weights, f32 destination), or s8
// for an int8 one (`src_type` s8 or u8, s8 weights, runtime output scales as RowChunkedMatmul
// sets them; for an s8 source the layout may carry oneDNN's compensation).
memory::desc preferred_weights(memory::dim rows, memory::dim in, memory::dim out, dt type,
                               dt src_type) {
  const memory::desc wei(dims{in, out}, type, tag::any);
  const memory::desc src(dims{rows, in}, src_type, tag::ab);
  dnnl::primitive_attr attr = strict_attr();
  if (type == dt::s8) attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
  matmul::primitive_desc pd(matmul::desc(src, wei, plain_desc({rows, out})), attr, cpu_engine());
  return pd.weights_desc();
}

memory make_vector(const std::vector<float>& v) {
  const auto n = static_cast<memory::dim>(v.size());
  return prepare_weights(v, plain_desc({n}), plain_desc({n}));
}

// Each problem's scores start on a 64-byte boundary: AVX2's small-matrix kernels take other paths
// (and round differently) for other alignments, so an item's attention would otherwise depend
// on where in the batch its problems fall.
memory::dim scores_stride(memory::dim rows, memory::dim T) { return (rows * T + 15) / 16 * 16; }

}  // namespace

Linear make_linear(const std::vector<float>& weight, const std::vector<float>& bias, memory::dim in,
                   memory::dim out, memory::dim ref_rows, bool bf16) {
  Linear l;
  // nn.Linear's [out, in] row-major is the [in, out] matrix in "ba" order.
  l.weights = prepare_weights(
      weight, memory::desc(dims{in, out}, dt::f32, tag::ba),
      preferred_weights(ref_rows, in, out, bf16 ? dt::bf16 : dt::f32, bf16 ? dt::bf16 : dt::f32));
  if (!bias.empty()) {
    l.has_bias = true;
    l.bias = prepare_weights(bias, plain_desc({1, out}), plain_desc({1, out}));
  }
  return l;
}

Linear make_int8_linear(const std::vector<float>& weight, const std::vector<float>& bias,
                        memory::dim in, memory::dim out, memory::dim ref_rows, float input_range,
                        std::optional<float> input_floor) {
  Linear l;
  // s8: q = round(x / step) in [-127, 127]. u8: q = round(x / step) + z in [0, 255] over
  // [floor, range], and sum (q - z) w = sum q w - z sum w, the last term folded into the bias.
  const bool u8 = input_floor.has_value();
  const float lo = u8 ? std::min(*input_floor, 0.f) : 0.f;
  const float in_step =
      u8 ? step_of(std::max(input_range, 0.f) - lo, 255.f) : step_of(input_range, 127.f);
  l.int8.inverse_step = 1.f / in_step;
  l.int8.u8 = u8;
  l.int8.zero_point = u8 ? static_cast<int>(std::nearbyint(-lo / in_step)) : 0;
  // weight is [out, in] row-major: output channel o is row o.
  const auto per_out = static_cast<std::size_t>(in);
  const float levels = int8_weight_levels();
  std::vector<float> inverse(static_cast<std::size_t>(out)), output(inverse.size()),
      qbias(inverse.size());
  for (std::size_t o = 0; o < inverse.size(); ++o) {
    float m = 0;
    for (std::size_t i = o * per_out; i < (o + 1) * per_out; ++i)
      m = std::max(m, std::abs(weight[i]));
    const float w_step = step_of(m, levels);
    inverse[o] = 1.f / w_step;
    output[o] = in_step * w_step;
    // The quantised weights' sum as the reorder below rounds them (f32 product, nearest even).
    double qsum = 0;
    for (std::size_t i = o * per_out; i < (o + 1) * per_out; ++i)
      qsum += std::clamp(std::nearbyint(weight[i] * inverse[o]), -levels, levels);
    const double b = bias.empty() ? 0.0 : bias[o] / (double(in_step) * w_step);
    qbias[o] = static_cast<float>(b - l.int8.zero_point * qsum);
  }
  // f32 -> s8 with 1 / step per output channel (dimension 1 of [in, out]): the reorder rounds,
  // saturates and adds the compensation the layout may carry.
  l.weights = prepare_weights(weight, memory::desc(dims{in, out}, dt::f32, tag::ba),
                              preferred_weights(ref_rows, in, out, dt::s8, u8 ? dt::u8 : dt::s8),
                              1 << 1, inverse);
  l.int8.output = prepare_weights(output, plain_desc({out}), plain_desc({out}));
  // A u8 input always has a bias (the zero point's correction), whatever the zero point, so
  // all the layers a primitive serves agree.
  if (!bias.empty() || u8) {
    l.has_bias = true;
    l.bias = prepare_weights(qbias, plain_desc({1, out}), plain_desc({1, out}));
  }
  return l;
}

RowChunkedMatmul row_linear(memory::dim rows_per_item, const Linear& lin, memory::dim in,
                            memory::dim out, const dnnl::post_ops& ops) {
  return RowChunkedMatmul(rows_per_item, in, out, lin.weights.get_desc(),
                          lin.has_bias ? lin.bias.get_desc() : memory::desc(), ops, lin.int8.u8);
}

void run_linear(const RowChunkedMatmul& mm, const Linear& lin, memory::dim items, const float* src,
                float* dst) {
  mm.execute(items, src, dst, lin.weights, lin.has_bias ? &lin.bias : nullptr,
             lin.is_int8() ? &lin.int8 : nullptr);
}

dnnl::post_ops sum_op() {
  dnnl::post_ops ops;
  ops.append_sum(1.f);
  return ops;
}

LayerNorm make_layer_norm(const std::vector<float>& gamma, const std::vector<float>& beta) {
  return {make_vector(gamma), make_vector(beta)};
}

RowLayerNorm::RowLayerNorm(memory::dim rows, memory::dim hidden, double eps)
    : desc_(plain_desc({rows, hidden})),
      prim_(dnnl::layer_normalization_forward::primitive_desc(
          dnnl::layer_normalization_forward::desc(
              dnnl::prop_kind::forward_inference, desc_, static_cast<float>(eps),
              dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
          strict_attr(), cpu_engine())) {}

void RowLayerNorm::run(dnnl::stream& stream, const float* src, float* dst,
                       const LayerNorm& ln) const {
  prim_.execute(stream, {{DNNL_ARG_SRC, wrap(desc_, src)},
                         {DNNL_ARG_DST, memory(desc_, cpu_engine(), dst)},
                         {DNNL_ARG_SCALE, ln.gamma},
                         {DNNL_ARG_SHIFT, ln.beta}});
  stream.wait();
}

void patchify(const float* src, memory::dim n, memory::dim C, memory::dim S, memory::dim ps,
              float* dst) {
  const memory::dim g = S / ps, patch_len = C * ps * ps;
#pragma omp parallel for collapse(2)
  for (memory::dim img = 0; img < n; ++img) {
    for (memory::dim gy = 0; gy < g; ++gy) {
      for (memory::dim gx = 0; gx < g; ++gx) {
        float* row = dst + ((img * g + gy) * g + gx) * patch_len;
        for (memory::dim ch = 0; ch < C; ++ch) {
          for (memory::dim ky = 0; ky < ps; ++ky) {
            const float* in = src + ((img * C + ch) * S + gy * ps + ky) * S + gx * ps;
            std::memcpy(row + (ch * ps + ky) * ps, in,
                        static_cast<std::size_t>(ps) * sizeof(float));
          }
        }
      }
    }
  }
}

void embed_patches(memory::dim n, memory::dim P, memory::dim H, const float* patch_out,
                   const float* cls_pos, const float* position, float* x) {
  const memory::dim T = P + 1;
#pragma omp parallel for collapse(2)
  for (memory::dim img = 0; img < n; ++img) {
    for (memory::dim t = 0; t < T; ++t) {
      float* dst = x + (img * T + t) * H;
      if (t == 0) {
        std::memcpy(dst, cls_pos, static_cast<std::size_t>(H) * sizeof(float));
      } else {
        const float* src = patch_out + (img * P + t - 1) * H;
        const float* pe = position + t * H;
        for (memory::dim h = 0; h < H; ++h) dst[h] = src[h] + pe[h];
      }
    }
  }
}

namespace {

// A lower bound of ACT2FN[act]'s output (rounded down): fc2's input. GELU's minimum is -0.1700
// (at x = -0.75), x sigmoid(a x)'s -0.2785 / a.
float activation_floor(Activation act) {
  switch (act) {
    case Activation::kGelu:
    case Activation::kGeluTanh:
      return -0.1701f;
    case Activation::kRelu:
      return 0.f;
    case Activation::kSilu:
      return -0.2785f;
    case Activation::kQuickGelu:
      return -0.2785f / 1.702f;
  }
  return -1.f;
}

}  // namespace

// The encoder's linear layers int8 leaves in fp32 ("" none; BINSCAN_INT8_FP32=PART,PART keeps
// the layers whose module path contains a part, for measuring; see kept_fp32): none. Measured on
// the random-weight ViT-B/16 over the 41 shared photos (bench/fidelity; top-1 / top-5 set agreeing
// with fp32, median |dp|): all in int8 with fc2's input (GELU's output, from -0.17 up to outliers
// past 10) in s8, 37/41, 21/41, 2.2e-5; fc2 in fp32, 39/41, 31/41, 1.7e-5, but a third of the
// multiply-adds back in fp32 (no faster than bf16 then); fc2's input in u8 over [-0.17, max] with
// a zero point (one more bit, same speed), 38/41, 27/41, 2.0e-5: what this does. Keeping fc1, the
// attention output or qkv in fp32 instead helped less (22, 27, 28 of 41 top-5 sets).
// Beyond these, the last layer's queries, attention output and MLP stay fp32 whatever it says:
// they run over the pooled row alone (1/197 of a layer's work for ViT-B/16), and their inputs'
// ranges would come from one row per calibration photo.
constexpr const char* kKeptFp32 = "";

EncoderWeights::EncoderWeights(const EncoderSpec& spec, const WeightLoader& load,
                               const std::function<LayerNames(int)>& names, memory::dim ref_tokens)
    : spec_(spec), int8_(spec.int8_ranges != nullptr) {
  const memory::dim H = spec.hidden, I = spec.intermediate;
  const memory::dim ref_rows = RowChunkedMatmul::chunk_rows(ref_tokens);
  const bool bf16 = spec.bf16;
  const auto bias = [&](const std::string& name, memory::dim n) {
    return spec.qkv_bias ? load(name + ".bias", {n}) : std::vector<float>();
  };
  // A layer over every token: int8 with the range of `input` (the module path that names its
  // input) unless kept fp32; else fp32 or bf16.
  // `floor`: a lower bound of the input (u8 with a zero point), else it is signed (s8).
  const auto linear = [&](const std::vector<float>& w, const std::vector<float>& b, memory::dim in,
                          memory::dim out, const std::string& module, const std::string& input,
                          std::optional<float> floor = std::nullopt) {
    if (spec.int8_ranges == nullptr || kept_fp32(module, kKeptFp32))
      return make_linear(w, b, in, out, ref_rows, bf16);
    const auto range = spec.int8_ranges->find(input);
    if (range == spec.int8_ranges->end())
      throw Error(ErrorKind::kConfig, input,
                  "the calibration has no range for this layer (made for another model?)");
    return make_int8_linear(w, b, in, out, ref_rows, range->second, floor);
  };
  for (int i = 0; i < spec.layers; ++i) {
    const LayerNames n = names(i);
    const bool last = i + 1 == spec.layers;
    Layer layer;
    layer.names = n;
    layer.before =
        make_layer_norm(load(n.ln_before + ".weight", {H}), load(n.ln_before + ".bias", {H}));
    layer.after =
        make_layer_norm(load(n.ln_after + ".weight", {H}), load(n.ln_after + ".bias", {H}));
    // nn.Linear weights [out, in] stacked along `out` = the fused [in, 3H] matrix in "ba".
    std::vector<float> w, b;
    for (const std::string* part : {&n.q, &n.k, &n.v}) {
      const auto pw = load(*part + ".weight", {H, H});
      w.insert(w.end(), pw.begin(), pw.end());
      const auto pb = bias(*part, H);
      b.insert(b.end(), pb.begin(), pb.end());
    }
    // The fused projections are named (and calibrated) by the query's module path.
    if (!last) {
      layer.qkv = linear(w, b, H, 3 * H, n.q, n.q);
    } else {
      const auto hh = static_cast<std::ptrdiff_t>(H * H);
      const std::vector<float> wq(w.begin(), w.begin() + hh), wkv(w.begin() + hh, w.end());
      std::vector<float> bq, bkv;
      if (!b.empty()) {
        bq.assign(b.begin(), b.begin() + H);
        bkv.assign(b.begin() + H, b.end());
      }
      layer.q = make_linear(wq, bq, H, H, ref_rows, bf16);
      layer.kv = linear(wkv, bkv, H, 2 * H, n.k, n.q);
    }
    auto ow = load(n.out + ".weight", {H, H}), ob = load(n.out + ".bias", {H});
    auto f1w = load(n.fc1 + ".weight", {I, H}), f1b = load(n.fc1 + ".bias", {I});
    auto f2w = load(n.fc2 + ".weight", {H, I}), f2b = load(n.fc2 + ".bias", {H});
    if (last) {
      layer.out = make_linear(ow, ob, H, H, ref_rows, bf16);
      layer.fc1 = make_linear(f1w, f1b, H, I, ref_rows, bf16);
      layer.fc2 = make_linear(f2w, f2b, I, H, ref_rows, bf16);
    } else {
      layer.out = linear(ow, ob, H, H, n.out, n.out);
      layer.fc1 = linear(f1w, f1b, H, I, n.fc1, n.fc1);
      layer.fc2 = linear(f2w, f2b, I, H, n.fc2, n.fc2, activation_floor(spec.act));
    }
    layers_.push_back(std::move(layer));
  }
  spec_.int8_ranges = nullptr;  // the caller's; not needed after loading
}

// Attention for one (item, head) problem: [rows, d] queries against [T, d] keys and values, all
// strided views into the activations. rows is T, or 1 for the pooled row's.
struct EncoderRunner::Attention {
  memory::desc q, kt, v, scores, ctx, mask;
  matmul qk, pv;
  dnnl::softmax_forward softmax;
  // Each thread brings its own scratchpad (the library's is one buffer shared by all threads).
  memory::desc qk_pad, softmax_pad, pv_pad;
  std::size_t pad_bytes = 0;
  bool masked = false;

  Attention() = default;
  Attention(memory::dim rows, memory::dim T, memory::dim d, memory::dim q_stride,
            memory::dim kv_stride, memory::dim ctx_stride, float scale, bool causal) {
    auto& eng = cpu_engine();
    const auto attr = [](const dnnl::post_ops& ops = dnnl::post_ops()) {
      dnnl::primitive_attr a = strict_attr(ops);
      a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      return a;
    };
    masked = causal;
    q = memory::desc(dims{1, 1, rows, d}, dt::f32, dims{rows * q_stride, d, q_stride, 1});
    kt = memory::desc(dims{1, 1, d, T}, dt::f32, dims{T * kv_stride, d, 1, kv_stride});
    v = memory::desc(dims{1, 1, T, d}, dt::f32, dims{T * kv_stride, d, kv_stride, 1});
    scores = plain_desc({1, 1, rows, T});
    ctx = memory::desc(dims{1, 1, rows, d}, dt::f32, dims{rows * ctx_stride, d, ctx_stride, 1});
    dnnl::post_ops qk_ops;
    if (causal) {  // scores * scale + mask: the output scale applies before the post-ops
      mask = plain_desc({1, 1, rows, T});
      qk_ops.append_binary(dnnl::algorithm::binary_add, mask);
    }
    dnnl::primitive_attr scaled = attr(qk_ops);
    scaled.set_output_scales(0, {scale});
    const matmul::primitive_desc qk_pd(matmul::desc(q, kt, scores), scaled, eng);
    const dnnl::softmax_forward::primitive_desc softmax_pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, scores, 3), attr(), eng);
    const matmul::primitive_desc pv_pd(matmul::desc(scores, v, ctx), attr(), eng);
    qk = matmul(qk_pd);
    softmax = dnnl::softmax_forward(softmax_pd);
    pv = matmul(pv_pd);
    qk_pad = qk_pd.scratchpad_desc();
    softmax_pad = softmax_pd.scratchpad_desc();
    pv_pad = pv_pd.scratchpad_desc();
    pad_bytes = std::max({qk_pad.get_size(), softmax_pad.get_size(), pv_pad.get_size()});
  }

  // Where the problems' data live: base pointers of item 0, head 0, and the steps between items.
  struct Data {
    float* q;
    float* k;
    float* v;
    float* scores;
    float* ctx;
    memory::dim q_item, kv_item, ctx_item;
  };

  // Every (item, head) problem, spread over the threads; each runs single-threaded (oneDNN runs
  // a primitive called inside a parallel region on the calling thread). oneDNN's batched matmul
  // would split some problems across threads when their count is not a multiple of the thread
  // count, which changes the rounding and made an item's scores depend on its batch.
  void run(const Data& at, memory::dim n, memory::dim heads, memory::dim d,
           const float* mask_data) const {
    const memory::dim problems = n * heads;
    const auto sd = scores.dims();
    const memory::dim scores_size = scores_stride(sd[2], sd[3]);
    std::exception_ptr error;
#pragma omp parallel
    {
      dnnl::stream st(cpu_engine());  // one per thread: a stream is not shared between threads
      const Buffer pad((pad_bytes + sizeof(float) - 1) / sizeof(float));
      auto& eng = cpu_engine();
      const memory qk_mem(qk_pad, eng, pad.data()), softmax_mem(softmax_pad, eng, pad.data()),
          pv_mem(pv_pad, eng, pad.data());
      const memory mask_mem = masked ? wrap(mask, mask_data) : memory();
#pragma omp for schedule(static)
      for (memory::dim j = 0; j < problems; ++j) {
        try {
          const memory::dim item = j / heads, head = j % heads;
          const memory qm(q, eng, at.q + item * at.q_item + head * d);
          const memory km(kt, eng, at.k + item * at.kv_item + head * d);
          const memory vm(v, eng, at.v + item * at.kv_item + head * d);
          const memory sm(scores, eng, at.scores + j * scores_size);
          const memory cm(ctx, eng, at.ctx + item * at.ctx_item + head * d);
          std::unordered_map<int, memory> qk_args{{DNNL_ARG_SRC, qm},
                                                  {DNNL_ARG_WEIGHTS, km},
                                                  {DNNL_ARG_DST, sm},
                                                  {DNNL_ARG_SCRATCHPAD, qk_mem}};
          if (masked) qk_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = mask_mem;
          qk.execute(st, qk_args);
          softmax.execute(
              st, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_DST, sm}, {DNNL_ARG_SCRATCHPAD, softmax_mem}});
          pv.execute(st, {{DNNL_ARG_SRC, sm},
                          {DNNL_ARG_WEIGHTS, vm},
                          {DNNL_ARG_DST, cm},
                          {DNNL_ARG_SCRATCHPAD, pv_mem}});
        } catch (...) {
#pragma omp critical
          if (!error) error = std::current_exception();
        }
      }
    }
    if (error) std::rethrow_exception(error);
  }
};

struct EncoderRunner::Plan {
  memory::dim n = 0;
  Buffer x, y, big, scores, xc, yc, qc, ctxc, mlpc;
  RowLayerNorm ln_all, ln_pool;
  Attention attention, attention_pool;  // every token's queries; the last layer's pooled query
};

EncoderRunner::EncoderRunner(const EncoderWeights& weights, memory::dim tokens,
                             memory::dim pooled_row, bool causal)
    : weights_(&weights), tokens_(tokens), pooled_row_(pooled_row), causal_(causal) {
  const EncoderSpec& s = weights.spec();
  const memory::dim H = s.hidden, T = tokens, I = s.intermediate;
  if (pooled_row < 0 || pooled_row >= T)
    throw Error(ErrorKind::kInternal, "encoder", "pooled row outside the sequence");
  dnnl::post_ops act;
  append_activation(act, s.act);
  const auto& layers = weights.layers_;
  // Primitives shared by all full layers: one for the kind's fp32 (bf16) layers, one for its
  // int8 ones, made for the first layer of each.
  const auto shared = [&](Matmuls& mm, Linear EncoderWeights::Layer::*kind, memory::dim in,
                          memory::dim out, const dnnl::post_ops& ops, std::size_t count) {
    bool plain = false, int8 = false;
    for (std::size_t i = 0; i < count; ++i) {
      const Linear& lin = layers[i].*kind;
      bool& made = lin.is_int8() ? int8 : plain;
      if (made) continue;
      (lin.is_int8() ? mm.int8 : mm.plain) = row_linear(T, lin, in, out, ops);
      made = true;
    }
  };
  const std::size_t full = layers.empty() ? 0 : layers.size() - 1;
  shared(qkv_, &EncoderWeights::Layer::qkv, H, 3 * H, {}, full);
  shared(out_, &EncoderWeights::Layer::out, H, H, sum_op(), full);  // + residual
  shared(fc1_, &EncoderWeights::Layer::fc1, H, I, act, full);
  shared(fc2_, &EncoderWeights::Layer::fc2, I, H, sum_op(), full);  // + residual
  if (!layers.empty()) {
    const auto& last = layers.back();
    q_pool_ = row_linear(1, last.q, H, H);
    (last.kv.is_int8() ? kv_.int8 : kv_.plain) = row_linear(T, last.kv, H, 2 * H);
    out_pool_ = row_linear(1, last.out, H, H, sum_op());
    fc1_pool_ = row_linear(1, last.fc1, H, I, act);
    fc2_pool_ = row_linear(1, last.fc2, I, H, sum_op());
  }
  if (causal) {
    // transformers adds torch.finfo(float32).min above the diagonal.
    mask_ = Buffer(static_cast<std::size_t>(T * T));
    for (memory::dim r = 0; r < T; ++r)
      for (memory::dim c = 0; c < T; ++c)
        mask_.data()[r * T + c] = c > r ? std::numeric_limits<float>::lowest() : 0.f;
  }
}

EncoderRunner::Plan& EncoderRunner::plan(memory::dim n) {
  auto it = plans_.find(n);
  if (it != plans_.end()) return *it->second;
  const EncoderSpec& s = weights_->spec();
  auto p = std::make_unique<Plan>();
  p->n = n;
  const memory::dim H = s.hidden, T = tokens_, I = s.intermediate, nh = s.heads, d = H / nh;
  const auto u = [](memory::dim v) { return static_cast<std::size_t>(v); };
  p->x = Buffer(u(n * T * H));
  p->y = Buffer(u(n * T * H));  // LayerNorm output, then the attention context (never both live)
  p->big = Buffer(u(std::max(n * T * 3 * H, n * T * I)));  // qkv | mlp
  p->scores = Buffer(u(n * nh * scores_stride(T, T)));
  p->xc = Buffer(u(n * H));
  p->yc = Buffer(u(n * H));
  p->qc = Buffer(u(n * H));
  p->ctxc = Buffer(u(n * H));
  p->mlpc = Buffer(u(n * I));
  p->ln_all = RowLayerNorm(n * T, H, s.layer_norm_eps);
  p->ln_pool = RowLayerNorm(n, H, s.layer_norm_eps);
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  // Per-head views: queries, keys and values in the fused [tokens, 3H] projection, the context
  // written back into [tokens, H]; in the last layer the pooled queries [n, H] and keys/values
  // [tokens, 2H]. The pooled row attends to every row (it is the last one when causal).
  if (weights_->layers_.size() > 1)
    p->attention = Attention(T, T, d, 3 * H, 3 * H, H, scale, causal_);
  if (!weights_->layers_.empty()) p->attention_pool = Attention(1, T, d, H, 2 * H, H, scale, false);
  return *plans_.emplace(n, std::move(p)).first->second;
}

EncoderRunner::~EncoderRunner() = default;

float* EncoderRunner::input(memory::dim items) { return plan(items).x.data(); }

const float* EncoderRunner::forward(memory::dim n, dnnl::stream& st) {
  Plan& p = plan(n);
  const EncoderSpec& s = weights_->spec();
  const memory::dim H = s.hidden, T = tokens_, heads = s.heads, d = H / heads;
  const auto& layers = weights_->layers_;
  // Copies the pooled rows ([T, H] apart) of `tokens` into `out` [n, H].
  const auto gather = [&](const float* tokens, float* out) {
    const std::size_t row = static_cast<std::size_t>(H) * sizeof(float);
    for (memory::dim i = 0; i < n; ++i)
      std::memcpy(out + i * H, tokens + (i * T + pooled_row_) * H, row);
  };
  // A linear layer over every token, its input observed first when calibrating.
  const auto linear = [&](const Matmuls& mm, const Linear& lin, const std::string& input,
                          const float* src, memory::dim in, float* dst) {
    if (observed_ != nullptr) observe(input, src, n * T * in);
    run_linear(mm.of(lin), lin, n, src, dst);
  };
  const memory::dim I = s.intermediate;
  for (std::size_t i = 0; i + 1 < layers.size(); ++i) {
    const auto& l = layers[i];
    p.ln_all.run(st, p.x.data(), p.y.data(), l.before);
    linear(qkv_, l.qkv, l.names.q, p.y.data(), H, p.big.data());
    float* qkv = p.big.data();
    p.attention.run(
        {qkv, qkv + H, qkv + 2 * H, p.scores.data(), p.y.data(), T * 3 * H, T * 3 * H, T * H}, n,
        heads, d, mask_.data());
    linear(out_, l.out, l.names.out, p.y.data(), H, p.x.data());  // + residual (sum post-op)
    p.ln_all.run(st, p.x.data(), p.y.data(), l.after);
    linear(fc1_, l.fc1, l.names.fc1, p.y.data(), H, p.big.data());
    linear(fc2_, l.fc2, l.names.fc2, p.big.data(), I, p.x.data());  // + residual
  }
  if (layers.empty()) {
    gather(p.x.data(), p.xc.data());
    return p.xc.data();
  }
  const auto& l = layers.back();
  p.ln_all.run(st, p.x.data(), p.y.data(), l.before);
  gather(p.y.data(), p.yc.data());
  run_linear(q_pool_, l.q, n, p.yc.data(), p.qc.data());
  linear(kv_, l.kv, l.names.q, p.y.data(), H, p.big.data());
  float* kv = p.big.data();
  p.attention_pool.run({p.qc.data(), kv, kv + H, p.scores.data(), p.ctxc.data(), H, T * 2 * H, H},
                       n, heads, d, nullptr);
  gather(p.x.data(), p.xc.data());
  run_linear(out_pool_, l.out, n, p.ctxc.data(), p.xc.data());
  p.ln_pool.run(st, p.xc.data(), p.yc.data(), l.after);
  run_linear(fc1_pool_, l.fc1, n, p.yc.data(), p.mlpc.data());
  run_linear(fc2_pool_, l.fc2, n, p.mlpc.data(), p.xc.data());
  return p.xc.data();
}

void EncoderRunner::observe_ranges(ActivationRanges* ranges) {
  if (ranges != nullptr && (weights_->spec().bf16 || weights_->int8()))
    throw Error(ErrorKind::kUnsupported, "calibration", "calibrate with an fp32 engine");
  observed_ = ranges;
}

void EncoderRunner::observe(const std::string& name, const float* values, memory::dim count) {
  float m = 0;
#pragma omp parallel for reduction(max : m)
  for (memory::dim i = 0; i < count; ++i) m = std::max(m, std::abs(values[i]));
  float& range = (*observed_)[name];
  range = std::max(range, m);
}

}  // namespace binscan::engine_internal

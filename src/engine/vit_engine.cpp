// ViTForImageClassification (transformers' modeling_vit.py, eval mode) on oneDNN.
//
// Activations stay plain row-major [tokens, hidden] so every linear layer is one matmul
// primitive over all tokens of the batch, with bias, GELU and the residual add fused as
// post-ops; weights are reordered once into the blocked layout the matmul prefers.
// Attention uses strided views into the fused QKV output (no transposes): Q K^T per (image, head)
// is one matmul with the 1/sqrt(d) scale fused, followed by the softmax primitive and a second
// matmul writing the head straight back into [tokens, hidden] order. The (image, head) problems
// are spread over the threads, each computed on one, so an image's result does not depend on
// how many images share its batch (see run_attention).
// Only the CLS token is classified, so the last layer computes keys and values for every token
// but queries, attention output and MLP for the CLS token alone: exact, and ~7% less work.
// With bf16 (Precision::kBf16) the linear layers but the classifier hold bf16 weights and round
// their input rows to bf16 (RowChunkedMatmul); everything between them stays fp32.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <unordered_map>

#include "engine/engines.h"
#include "util/error.h"

namespace binscan::engine_internal {
namespace {

using dnnl::matmul;
using dnnl::memory;

// nn.Linear prepared for the matmul primitive: the logical [in, out] matrix in oneDNN's
// preferred layout, and the bias as [1, out] (absent for qkv_bias=false).
struct Linear {
  memory weights;
  memory bias;
  bool has_bias = false;
};

// The weight layout matmul prefers for [rows, in] x [in, out]. Chosen once for a reference row
// count (the chunk size the layer runs at) and imposed on every primitive, so the weights exist
// once. `type`: f32, or bf16 for a bf16 matmul (bf16 source and weights, f32 destination).
memory::desc preferred_weights(memory::dim rows, memory::dim in, memory::dim out, dt type) {
  const memory::desc wei(dims{in, out}, type, tag::any);
  const memory::desc src(dims{rows, in}, type, tag::ab);
  matmul::primitive_desc pd(matmul::desc(src, wei, plain_desc({rows, out})), strict_attr(),
                            cpu_engine());
  return pd.weights_desc();
}

// `weight` is nn.Linear's [out, in] row-major, i.e. the [in, out] matrix in "ba" order. `bf16`:
// the weights are rounded to bf16 here, once; the bias stays fp32.
Linear make_linear(const std::vector<float>& weight, const std::vector<float>& bias, memory::dim in,
                   memory::dim out, memory::dim ref_rows, bool bf16 = false) {
  Linear l;
  l.weights = prepare_weights(weight, memory::desc(dims{in, out}, dt::f32, tag::ba),
                              preferred_weights(ref_rows, in, out, bf16 ? dt::bf16 : dt::f32));
  if (!bias.empty()) {
    l.has_bias = true;
    l.bias = prepare_weights(bias, plain_desc({1, out}), plain_desc({1, out}));
  }
  return l;
}

memory make_vector(const std::vector<float>& v) {
  const auto n = static_cast<memory::dim>(v.size());
  return prepare_weights(v, plain_desc({n}), plain_desc({n}));
}

struct LayerNorm {
  memory gamma, beta;
};

struct EncoderLayer {
  LayerNorm before, after;
  Linear qkv;    // fused [H, 3H]: every layer but the last
  Linear q, kv;  // the last layer: queries (CLS only) and fused keys/values [H, 2H]
  Linear out, fc1, fc2;
};

// A Linear's matmul over `rows_per_item` rows of each image, in fixed single-threaded chunks (see
// RowChunkedMatmul: an image's result does not depend on its batch or the thread count). Made
// for one layer's weights, run with any layer's of the same shapes and layouts.
RowChunkedMatmul row_linear(memory::dim rows_per_item, const Linear& lin, memory::dim in,
                            memory::dim out, const dnnl::post_ops& ops = dnnl::post_ops()) {
  return RowChunkedMatmul(rows_per_item, in, out, lin.weights.get_desc(),
                          lin.has_bias ? lin.bias.get_desc() : memory::desc(), ops);
}

void run_linear(const RowChunkedMatmul& mm, const Linear& lin, memory::dim images, const float* src,
                float* dst) {
  mm.execute(images, src, dst, lin.weights, lin.has_bias ? &lin.bias : nullptr);
}

// Attention for one (image, head) problem: [rows, d] queries against [T, d] keys and values, all
// strided views into the activations. rows is T, or 1 when only the CLS token's is needed.
struct Attention {
  memory::desc q, kt, v, scores, ctx;
  matmul qk, pv;
  dnnl::softmax_forward softmax;
  // Each thread brings its own scratchpad (the library's is one buffer shared by all threads).
  memory::desc qk_pad, softmax_pad, pv_pad;
  std::size_t pad_bytes = 0;
};

// Where the problems' data live: base pointers of image 0, head 0, and the steps between images.
struct AttentionData {
  float* q;
  float* k;
  float* v;
  float* scores;
  float* ctx;
  memory::dim q_image, kv_image, ctx_image;
};

Attention make_attention(memory::dim rows, memory::dim T, memory::dim d, memory::dim q_stride,
                         memory::dim kv_stride, memory::dim ctx_stride, float scale) {
  auto& eng = cpu_engine();
  const auto attr = [] {
    dnnl::primitive_attr a = strict_attr();
    a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return a;
  };
  dnnl::primitive_attr scaled = attr();
  scaled.set_output_scales(0, {scale});
  Attention a;
  a.q = memory::desc(dims{1, 1, rows, d}, dt::f32, dims{rows * q_stride, d, q_stride, 1});
  a.kt = memory::desc(dims{1, 1, d, T}, dt::f32, dims{T * kv_stride, d, 1, kv_stride});
  a.v = memory::desc(dims{1, 1, T, d}, dt::f32, dims{T * kv_stride, d, kv_stride, 1});
  a.scores = plain_desc({1, 1, rows, T});
  a.ctx = memory::desc(dims{1, 1, rows, d}, dt::f32, dims{rows * ctx_stride, d, ctx_stride, 1});
  const matmul::primitive_desc qk(matmul::desc(a.q, a.kt, a.scores), scaled, eng);
  const dnnl::softmax_forward::primitive_desc softmax(
      dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, a.scores, 3), attr(), eng);
  const matmul::primitive_desc pv(matmul::desc(a.scores, a.v, a.ctx), attr(), eng);
  a.qk = matmul(qk);
  a.softmax = dnnl::softmax_forward(softmax);
  a.pv = matmul(pv);
  a.qk_pad = qk.scratchpad_desc();
  a.softmax_pad = softmax.scratchpad_desc();
  a.pv_pad = pv.scratchpad_desc();
  a.pad_bytes = std::max({a.qk_pad.get_size(), a.softmax_pad.get_size(), a.pv_pad.get_size()});
  return a;
}

// Each problem's scores start on a 64-byte boundary: AVX2's small-matrix kernels take other paths
// (and round differently) for other alignments, so an image's attention would otherwise depend
// on where in the batch its problems fall.
memory::dim scores_stride(const memory::desc& scores) {
  const memory::dim floats = static_cast<memory::dim>(scores.get_size() / sizeof(float));
  return (floats + 15) / 16 * 16;
}

// Every (image, head) problem, spread over the threads; each runs single-threaded (oneDNN runs
// a primitive called inside a parallel region on the calling thread). oneDNN's batched matmul
// would split some problems across threads when their count is not a multiple of the thread
// count, which changes the rounding and made an image's scores depend on its batch.
void run_attention(const Attention& a, const AttentionData& at, memory::dim n, memory::dim heads,
                   memory::dim d) {
  const memory::dim problems = n * heads;
  const memory::dim scores_size = scores_stride(a.scores);
  std::exception_ptr error;
#pragma omp parallel
  {
    dnnl::stream st(cpu_engine());  // one per thread: a stream is not shared between threads
    const Buffer pad((a.pad_bytes + sizeof(float) - 1) / sizeof(float));
    auto& eng = cpu_engine();
    const memory qk_pad(a.qk_pad, eng, pad.data()), softmax_pad(a.softmax_pad, eng, pad.data()),
        pv_pad(a.pv_pad, eng, pad.data());
#pragma omp for schedule(static)
    for (memory::dim j = 0; j < problems; ++j) {
      try {
        const memory::dim img = j / heads, head = j % heads;
        const memory q(a.q, eng, at.q + img * at.q_image + head * d);
        const memory k(a.kt, eng, at.k + img * at.kv_image + head * d);
        const memory v(a.v, eng, at.v + img * at.kv_image + head * d);
        const memory scores(a.scores, eng, at.scores + j * scores_size);
        const memory ctx(a.ctx, eng, at.ctx + img * at.ctx_image + head * d);
        a.qk.execute(st, {{DNNL_ARG_SRC, q},
                          {DNNL_ARG_WEIGHTS, k},
                          {DNNL_ARG_DST, scores},
                          {DNNL_ARG_SCRATCHPAD, qk_pad}});
        a.softmax.execute(
            st,
            {{DNNL_ARG_SRC, scores}, {DNNL_ARG_DST, scores}, {DNNL_ARG_SCRATCHPAD, softmax_pad}});
        a.pv.execute(st, {{DNNL_ARG_SRC, scores},
                          {DNNL_ARG_WEIGHTS, v},
                          {DNNL_ARG_DST, ctx},
                          {DNNL_ARG_SCRATCHPAD, pv_pad}});
      } catch (...) {
#pragma omp critical
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

dnnl::post_ops sum_op() {
  dnnl::post_ops ops;
  ops.append_sum(1.f);
  return ops;
}

class VitEngine final : public Engine {
 public:
  VitEngine(const VitConfig& config, int num_labels, const WeightLoader& load, int threads,
            bool bf16);
  Tensor forward(const Tensor& pixel_values) override;

 private:
  // The linear layers, the same for every batch size (the weights are the first layer's; the
  // other layers' are passed at run time through `with`).
  struct Linears {
    RowChunkedMatmul patch, qkv, out, fc1, fc2;             // every token
    RowChunkedMatmul q_cls, kv, out_cls, fc1_cls, fc2_cls;  // the last layer
    RowChunkedMatmul classifier;
  };
  // Everything that depends on the batch size: buffers, memory views and primitives.
  struct Plan {
    memory::dim n = 0;
    Buffer x, y, big, scores, xc, yc, qc, ctxc, mlpc, logits;
    // memories over the buffers
    memory m_x, m_y, m_xc, m_yc;
    dnnl::layer_normalization_forward ln_all, ln_cls;
    Attention attention, attention_cls;  // every token's queries; the last layer's CLS query
  };

  void build_linears();
  Plan build_plan(memory::dim n) const;
  void patchify(const Tensor& pixels, const Plan& p) const;
  void embed(const Plan& p) const;
  // Copies the CLS rows ([T, H] apart) of `tokens` into `out` [n, H].
  void gather_cls(const Plan& p, const float* tokens, float* out) const;
  void run_layer_norm(const dnnl::layer_normalization_forward& prim, const memory& src,
                      const memory& dst, const LayerNorm& ln);

  VitConfig config_;
  memory::dim labels_, hidden_, heads_, head_dim_, inter_, patch_, grid_, patches_, tokens_,
      channels_, patch_len_;
  int threads_;
  Linear patch_embed_;
  std::vector<float> cls_pos_;   // cls_token + position_embeddings[0]
  std::vector<float> position_;  // position_embeddings [T, H]
  std::vector<EncoderLayer> layers_;
  LayerNorm final_ln_;
  Linear classifier_;
  Linears mm_;
  std::map<memory::dim, Plan> plans_;
  dnnl::stream stream_;
};

VitEngine::VitEngine(const VitConfig& c, int num_labels, const WeightLoader& load, int threads,
                     bool bf16)
    : config_(c), threads_(threads), stream_(cpu_engine()) {
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads)
    throw Error(ErrorKind::kConfig, "config.json",
                "hidden_size must be a positive multiple of num_attention_heads");
  if (c.patch_size <= 0 || c.image_size < c.patch_size || c.num_channels <= 0 ||
      c.intermediate_size <= 0 || c.num_hidden_layers < 0)
    throw Error(ErrorKind::kConfig, "config.json", "invalid ViT dimensions");
  if (num_labels <= 0) throw Error(ErrorKind::kConfig, "config.json", "the model has no labels");
  labels_ = num_labels;
  hidden_ = c.hidden_size;
  heads_ = c.num_attention_heads;
  head_dim_ = hidden_ / heads_;
  inter_ = c.intermediate_size;
  patch_ = c.patch_size;
  grid_ = c.image_size / c.patch_size;  // nn.Conv2d with stride = kernel floors
  patches_ = grid_ * grid_;
  tokens_ = patches_ + 1;
  channels_ = c.num_channels;
  patch_len_ = channels_ * patch_ * patch_;
  set_threads(threads_);

  const memory::dim H = hidden_, T = tokens_, ref_rows = RowChunkedMatmul::chunk_rows(tokens_);
  run_guarded("ViT weights", [&] {
    // The patch embedding (a conv with stride = kernel) is a matmul over flattened patches.
    patch_embed_ = make_linear(
        load("vit.embeddings.patch_embeddings.projection.weight", {H, channels_, patch_, patch_}),
        load("vit.embeddings.patch_embeddings.projection.bias", {H}), patch_len_, H,
        RowChunkedMatmul::chunk_rows(patches_), bf16);
    const auto cls = load("vit.embeddings.cls_token", {1, 1, H});
    position_ = load("vit.embeddings.position_embeddings", {1, T, H});
    cls_pos_.resize(static_cast<std::size_t>(H));
    for (std::size_t i = 0; i < cls_pos_.size(); ++i) cls_pos_[i] = cls[i] + position_[i];

    const auto L = c.num_hidden_layers;
    for (int i = 0; i < L; ++i) {
      const std::string p = "vit.encoder.layer." + std::to_string(i) + ".";
      EncoderLayer layer;
      layer.before = {make_vector(load(p + "layernorm_before.weight", {H})),
                      make_vector(load(p + "layernorm_before.bias", {H}))};
      layer.after = {make_vector(load(p + "layernorm_after.weight", {H})),
                     make_vector(load(p + "layernorm_after.bias", {H}))};
      const std::string a = p + "attention.attention.";
      // nn.Linear weights [out, in] stacked along `out` = the fused [in, 3H] matrix in "ba".
      std::vector<float> w, b;
      for (const char* part : {"query", "key", "value"}) {
        const auto pw = load(a + part + ".weight", {H, H});
        w.insert(w.end(), pw.begin(), pw.end());
        if (c.qkv_bias) {
          const auto pb = load(a + part + ".bias", {H});
          b.insert(b.end(), pb.begin(), pb.end());
        }
      }
      if (i + 1 < L) {
        layer.qkv = make_linear(w, b, H, 3 * H, ref_rows, bf16);
      } else {
        const auto hh = static_cast<std::ptrdiff_t>(H * H);
        const std::vector<float> wq(w.begin(), w.begin() + hh), wkv(w.begin() + hh, w.end());
        std::vector<float> bq, bkv;
        if (c.qkv_bias) {
          bq.assign(b.begin(), b.begin() + H);
          bkv.assign(b.begin() + H, b.end());
        }
        layer.q = make_linear(wq, bq, H, H, ref_rows, bf16);
        layer.kv = make_linear(wkv, bkv, H, 2 * H, ref_rows, bf16);
      }
      layer.out = make_linear(load(p + "attention.output.dense.weight", {H, H}),
                              load(p + "attention.output.dense.bias", {H}), H, H, ref_rows, bf16);
      layer.fc1 =
          make_linear(load(p + "intermediate.dense.weight", {inter_, H}),
                      load(p + "intermediate.dense.bias", {inter_}), H, inter_, ref_rows, bf16);
      layer.fc2 = make_linear(load(p + "output.dense.weight", {H, inter_}),
                              load(p + "output.dense.bias", {H}), inter_, H, ref_rows, bf16);
      layers_.push_back(std::move(layer));
    }
    final_ln_ = {make_vector(load("vit.layernorm.weight", {H})),
                 make_vector(load("vit.layernorm.bias", {H}))};
    // The classifier stays fp32: under 1% of the work, and it writes the logits directly.
    classifier_ = make_linear(load("classifier.weight", {labels_, H}),
                              load("classifier.bias", {labels_}), H, labels_, 1);
    build_linears();
  });
}

void VitEngine::build_linears() {
  const memory::dim H = hidden_, T = tokens_, I = inter_;
  dnnl::post_ops act;
  append_activation(act, config_.hidden_act);
  mm_.patch = row_linear(patches_, patch_embed_, patch_len_, H);
  if (layers_.size() > 1) {  // primitives shared by all full layers
    const EncoderLayer& l0 = layers_.front();
    mm_.qkv = row_linear(T, l0.qkv, H, 3 * H);
    mm_.out = row_linear(T, l0.out, H, H, sum_op());  // + residual
    mm_.fc1 = row_linear(T, l0.fc1, H, I, act);
    mm_.fc2 = row_linear(T, l0.fc2, I, H, sum_op());  // + residual
  }
  if (!layers_.empty()) {
    const EncoderLayer& last = layers_.back();
    mm_.q_cls = row_linear(1, last.q, H, H);
    mm_.kv = row_linear(T, last.kv, H, 2 * H);
    mm_.out_cls = row_linear(1, last.out, H, H, sum_op());
    mm_.fc1_cls = row_linear(1, last.fc1, H, I, act);
    mm_.fc2_cls = row_linear(1, last.fc2, I, H, sum_op());
  }
  mm_.classifier = row_linear(1, classifier_, H, labels_);
}

VitEngine::Plan VitEngine::build_plan(memory::dim n) const {
  Plan p;
  p.n = n;
  const memory::dim H = hidden_, T = tokens_, P = patches_, I = inter_, nh = heads_, d = head_dim_;
  const auto u = [](memory::dim v) { return static_cast<std::size_t>(v); };
  p.x = Buffer(u(n * T * H));
  p.y = Buffer(u(n * T * H));  // LayerNorm output, then the attention context (never both live)
  p.big = Buffer(u(std::max({n * T * 3 * H, n * T * I, n * P * H})));   // qkv | mlp | patch out
  const memory::dim scores = (T * T + 15) / 16 * 16;                    // see scores_stride
  p.scores = Buffer(u(std::max(n * nh * scores, n * P * patch_len_)));  // scores | patches
  p.xc = Buffer(u(n * H));
  p.yc = Buffer(u(n * H));
  p.qc = Buffer(u(n * H));
  p.ctxc = Buffer(u(n * H));
  p.mlpc = Buffer(u(n * I));
  p.logits = Buffer(u(n * labels_));

  auto& eng = cpu_engine();
  const auto rows = [](memory::dim r, memory::dim c) { return plain_desc({r, c}); };
  // Dense buffers: the brgemm matmul takes no strided source or destination. The big buffer
  // holds the patch embeddings, then each layer's qkv [n*T, 3H] or MLP [n*T, I], and in the last
  // layer the keys/values of all tokens [n*T, 2H]; the CLS tokens' rows have their own.
  p.m_x = memory(rows(n * T, H), eng, p.x.data());
  p.m_y = memory(rows(n * T, H), eng, p.y.data());
  p.m_xc = memory(rows(n, H), eng, p.xc.data());
  p.m_yc = memory(rows(n, H), eng, p.yc.data());

  const bool has_full = layers_.size() > 1;
  // Attention scores: (Q K^T) * 1/sqrt(d) with the scale fused as an output scale.
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  // Per-head views: queries, keys and values in the fused [tokens, 3H] projection, the context
  // written back into [tokens, H]; in the last layer the CLS queries [n, H] and keys/values
  // [tokens, 2H].
  if (has_full) p.attention = make_attention(T, T, d, 3 * H, 3 * H, H, scale);
  const auto ln_desc = [&](const memory::desc& md) {
    return dnnl::layer_normalization_forward(dnnl::layer_normalization_forward::primitive_desc(
        dnnl::layer_normalization_forward::desc(
            dnnl::prop_kind::forward_inference, md, static_cast<float>(config_.layer_norm_eps),
            dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
        strict_attr(), eng));
  };
  if (!layers_.empty()) p.ln_all = ln_desc(p.m_x.get_desc());
  p.ln_cls = ln_desc(p.m_xc.get_desc());

  if (!layers_.empty()) p.attention_cls = make_attention(1, T, d, H, 2 * H, H, scale);
  return p;
}

// Flattens each patch in (channel, row, column) order, the order of the conv weight [H, C, p, p].
void VitEngine::patchify(const Tensor& pixels, const Plan& p) const {
  const memory::dim n = p.n, g = grid_, ps = patch_, C = channels_;
  const memory::dim S = config_.image_size;
  const float* src = pixels.data.data();
  float* dst = p.scores.data();
#pragma omp parallel for collapse(2)
  for (memory::dim img = 0; img < n; ++img) {
    for (memory::dim gy = 0; gy < g; ++gy) {
      for (memory::dim gx = 0; gx < g; ++gx) {
        float* row = dst + ((img * g + gy) * g + gx) * patch_len_;
        for (memory::dim c = 0; c < C; ++c) {
          for (memory::dim ky = 0; ky < ps; ++ky) {
            const float* in = src + ((img * C + c) * S + gy * ps + ky) * S + gx * ps;
            std::memcpy(row + (c * ps + ky) * ps, in, static_cast<std::size_t>(ps) * sizeof(float));
          }
        }
      }
    }
  }
}

// x = concat(cls_token, patch embeddings) + position_embeddings.
void VitEngine::embed(const Plan& p) const {
  const memory::dim n = p.n, T = tokens_, H = hidden_, P = patches_;
  const float* patch_out = p.big.data();
  float* x = p.x.data();
  const float* pos = position_.data();
  const float* cls = cls_pos_.data();
#pragma omp parallel for collapse(2)
  for (memory::dim img = 0; img < n; ++img) {
    for (memory::dim t = 0; t < T; ++t) {
      float* dst = x + (img * T + t) * H;
      if (t == 0) {
        std::memcpy(dst, cls, static_cast<std::size_t>(H) * sizeof(float));
      } else {
        const float* src = patch_out + (img * P + t - 1) * H;
        const float* pe = pos + t * H;
        for (memory::dim h = 0; h < H; ++h) dst[h] = src[h] + pe[h];
      }
    }
  }
}

void VitEngine::gather_cls(const Plan& p, const float* tokens, float* out) const {
  const std::size_t row = static_cast<std::size_t>(hidden_) * sizeof(float);
  for (memory::dim img = 0; img < p.n; ++img)
    std::memcpy(out + img * hidden_, tokens + img * tokens_ * hidden_, row);
}

void VitEngine::run_layer_norm(const dnnl::layer_normalization_forward& prim, const memory& src,
                               const memory& dst, const LayerNorm& ln) {
  prim.execute(stream_, {{DNNL_ARG_SRC, src},
                         {DNNL_ARG_DST, dst},
                         {DNNL_ARG_SCALE, ln.gamma},
                         {DNNL_ARG_SHIFT, ln.beta}});
}

Tensor VitEngine::forward(const Tensor& pixel_values) {
  const auto& s = pixel_values.shape;
  if (s.size() != 4 || s[0] < 1 || s[1] != channels_ || s[2] != config_.image_size ||
      s[3] != config_.image_size ||
      pixel_values.data.size() != static_cast<std::size_t>(pixel_values.numel()))
    throw Error(ErrorKind::kUnsupported, "pixel_values",
                "expected [N, " + std::to_string(channels_) + ", " +
                    std::to_string(config_.image_size) + ", " + std::to_string(config_.image_size) +
                    "] for this model");
  const memory::dim n = s[0], H = hidden_, T = tokens_;
  set_threads(threads_);
  Tensor logits({n, labels_});
  run_guarded("ViT forward", [&] {
    auto it = plans_.find(n);
    if (it == plans_.end()) it = plans_.emplace(n, build_plan(n)).first;
    Plan& p = it->second;
    auto& st = stream_;

    patchify(pixel_values, p);
    run_linear(mm_.patch, patch_embed_, n, p.scores.data(), p.big.data());
    embed(p);

    for (std::size_t i = 0; i + 1 < layers_.size(); ++i) {
      const EncoderLayer& l = layers_[i];
      run_layer_norm(p.ln_all, p.m_x, p.m_y, l.before);
      st.wait();
      run_linear(mm_.qkv, l.qkv, n, p.y.data(), p.big.data());
      float* qkv = p.big.data();
      run_attention(
          p.attention,
          {qkv, qkv + H, qkv + 2 * H, p.scores.data(), p.y.data(), T * 3 * H, T * 3 * H, T * H}, n,
          heads_, head_dim_);
      run_linear(mm_.out, l.out, n, p.y.data(), p.x.data());  // + residual (sum post-op)
      run_layer_norm(p.ln_all, p.m_x, p.m_y, l.after);
      st.wait();
      run_linear(mm_.fc1, l.fc1, n, p.y.data(), p.big.data());
      run_linear(mm_.fc2, l.fc2, n, p.big.data(), p.x.data());  // + residual
    }
    if (!layers_.empty()) {
      const EncoderLayer& l = layers_.back();
      run_layer_norm(p.ln_all, p.m_x, p.m_y, l.before);
      st.wait();
      gather_cls(p, p.y.data(), p.yc.data());
      run_linear(mm_.q_cls, l.q, n, p.yc.data(), p.qc.data());
      run_linear(mm_.kv, l.kv, n, p.y.data(), p.big.data());
      float* kv = p.big.data();
      run_attention(p.attention_cls,
                    {p.qc.data(), kv, kv + H, p.scores.data(), p.ctxc.data(), H, T * 2 * H, H}, n,
                    heads_, head_dim_);
      gather_cls(p, p.x.data(), p.xc.data());
      run_linear(mm_.out_cls, l.out, n, p.ctxc.data(), p.xc.data());
      run_layer_norm(p.ln_cls, p.m_xc, p.m_yc, l.after);
      st.wait();
      run_linear(mm_.fc1_cls, l.fc1, n, p.yc.data(), p.mlpc.data());
      run_linear(mm_.fc2_cls, l.fc2, n, p.mlpc.data(), p.xc.data());
    } else {
      gather_cls(p, p.x.data(), p.xc.data());
    }
    run_layer_norm(p.ln_cls, p.m_xc, p.m_yc, final_ln_);
    st.wait();
    run_linear(mm_.classifier, classifier_, n, p.yc.data(), p.logits.data());
    std::memcpy(logits.data.data(), p.logits.data(), logits.data.size() * sizeof(float));
  });
  return logits;
}

}  // namespace

std::unique_ptr<Engine> make_vit_engine(const VitConfig& config, int num_labels,
                                        const WeightLoader& load, int threads, bool bf16) {
  return std::make_unique<VitEngine>(config, num_labels, load, threads, bf16);
}

}  // namespace binscan::engine_internal

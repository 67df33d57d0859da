// CLIPModel (transformers' modeling_clip.py, eval mode) on oneDNN: both towers run on the shared
// pre-LayerNorm encoder (engine/transformer.h).
//   vision: patch embedding (a conv without bias, run as a matmul over flattened patches), class
//           embedding, position embeddings, pre_layrnorm, encoder, post_layernorm of the class
//           token, visual_projection.
//   text:   token + position embeddings, causal encoder, final_layer_norm of the end-of-text
//           token, text_projection.
// transformers scales the queries by 1/sqrt(d) before Q K^T; the encoder scales the product,
// which differs only in float rounding. int8 (Precision::kInt8) quantises the image tower's
// encoder as ViT's (vit_engine.cpp); the text tower stays fp32 (it runs once per label set, not
// per photo), as do the patch embedding and the projections.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "engine/engines.h"
#include "engine/transformer.h"
#include "util/error.h"

namespace binscan::engine_internal {
namespace {

using dnnl::memory;

LayerNames clip_layer_names(const std::string& tower, int i) {
  const std::string p = tower + ".encoder.layers." + std::to_string(i) + ".";
  return LayerNames{p + "self_attn.q_proj",   p + "self_attn.k_proj", p + "self_attn.v_proj",
                    p + "self_attn.out_proj", p + "mlp.fc1",          p + "mlp.fc2",
                    p + "layer_norm1",        p + "layer_norm2"};
}

EncoderSpec spec_of(int hidden, int heads, int inter, int layers, Activation act, double eps,
                    bool bf16, const ActivationRanges* int8_ranges = nullptr) {
  EncoderSpec s;
  s.hidden = hidden;
  s.heads = heads;
  s.intermediate = inter;
  s.layers = layers;
  s.act = act;
  s.layer_norm_eps = eps;
  s.qkv_bias = true;
  s.bf16 = bf16;
  s.int8_ranges = int8_ranges;
  return s;
}

class ClipEngineImpl final : public ClipEngine {
 public:
  ClipEngineImpl(const ClipConfig& config, const WeightLoader& load, int threads,
                 Precision precision, const ActivationRanges* ranges);
  Tensor image_embeds(const Tensor& pixel_values) override;
  void observe_ranges(ActivationRanges* ranges) override {
    vision_encoder_->observe_ranges(ranges);
  }
  Tensor text_embeds(const std::vector<std::vector<std::int64_t>>& ids) override;
  float logit_scale_exp() const override { return logit_scale_exp_; }
  int context_length() const override { return config_.text.max_position_embeddings; }

 private:
  // Vision buffers per batch size (beyond the encoder's own).
  struct VisionPlan {
    Buffer patches, patch_out, pooled, embeds;
    RowLayerNorm pre_ln, post_ln;
  };
  // One text length: its encoder runner and the LayerNorm of the pooled row.
  struct TextRunner {
    std::unique_ptr<EncoderRunner> encoder;
    Buffer pooled, embeds;
  };
  VisionPlan& vision_plan(memory::dim n);
  TextRunner& text_runner(memory::dim length);
  // The end-of-text position as transformers picks it.
  std::size_t pooled_position(const std::vector<std::int64_t>& ids) const;

  ClipConfig config_;
  int threads_;
  memory::dim proj_, vh_, th_, patches_, tokens_, patch_len_;
  // vision
  Linear patch_embed_;
  std::vector<float> cls_pos_, vision_position_;
  LayerNorm pre_ln_, post_ln_;
  EncoderWeights vision_weights_;
  std::unique_ptr<EncoderRunner> vision_encoder_;
  Linear visual_projection_;
  RowChunkedMatmul patch_mm_, visual_mm_;
  std::map<memory::dim, VisionPlan> vision_plans_;
  // text
  std::vector<float> token_embedding_, text_position_;
  LayerNorm final_ln_;
  EncoderWeights text_weights_;
  Linear text_projection_;
  RowChunkedMatmul text_mm_;
  RowLayerNorm text_ln_;
  std::map<memory::dim, TextRunner> text_runners_;
  float logit_scale_exp_ = 1.f;
  dnnl::stream stream_;
};

ClipEngineImpl::ClipEngineImpl(const ClipConfig& c, const WeightLoader& load, int threads,
                               Precision precision, const ActivationRanges* ranges)
    : config_(c), threads_(threads), stream_(cpu_engine()) {
  const bool bf16 = precision == Precision::kBf16;
  if (precision == Precision::kInt8 && ranges == nullptr)
    throw Error(ErrorKind::kConfig, "--precision int8", "int8 needs a calibration");
  const auto& v = c.vision;
  const auto& t = c.text;
  proj_ = c.projection_dim;
  vh_ = v.hidden_size;
  th_ = t.hidden_size;
  const memory::dim grid = v.image_size / v.patch_size;
  patches_ = grid * grid;
  tokens_ = patches_ + 1;
  patch_len_ = static_cast<memory::dim>(v.num_channels) * v.patch_size * v.patch_size;
  set_threads(threads_);
  run_guarded("CLIP weights", [&] {
    const memory::dim H = vh_, T = tokens_, P = v.patch_size;
    patch_embed_ = make_linear(
        load("vision_model.embeddings.patch_embedding.weight", {H, v.num_channels, P, P}), {},
        patch_len_, H, RowChunkedMatmul::chunk_rows(patches_), bf16);
    const auto cls = load("vision_model.embeddings.class_embedding", {H});
    vision_position_ = load("vision_model.embeddings.position_embedding.weight", {T, H});
    cls_pos_.resize(static_cast<std::size_t>(H));
    for (std::size_t i = 0; i < cls_pos_.size(); ++i) cls_pos_[i] = cls[i] + vision_position_[i];
    pre_ln_ = make_layer_norm(load("vision_model.pre_layrnorm.weight", {H}),
                              load("vision_model.pre_layrnorm.bias", {H}));
    vision_weights_ = EncoderWeights(
        spec_of(v.hidden_size, v.num_attention_heads, v.intermediate_size, v.num_hidden_layers,
                v.hidden_act, v.layer_norm_eps, bf16,
                precision == Precision::kInt8 ? ranges : nullptr),
        load, [](int i) { return clip_layer_names("vision_model", i); }, T);
    vision_encoder_ = std::make_unique<EncoderRunner>(vision_weights_, T, 0, false);
    post_ln_ = make_layer_norm(load("vision_model.post_layernorm.weight", {H}),
                               load("vision_model.post_layernorm.bias", {H}));
    // The projections stay fp32 (they write the embeddings).
    visual_projection_ = make_linear(load("visual_projection.weight", {proj_, H}), {}, H, proj_, 1);
    patch_mm_ = row_linear(patches_, patch_embed_, patch_len_, H);
    visual_mm_ = row_linear(1, visual_projection_, H, proj_);

    const memory::dim TH = th_, ctx = t.max_position_embeddings;
    token_embedding_ = load("text_model.embeddings.token_embedding.weight", {t.vocab_size, TH});
    text_position_ = load("text_model.embeddings.position_embedding.weight", {ctx, TH});
    text_weights_ = EncoderWeights(
        spec_of(t.hidden_size, t.num_attention_heads, t.intermediate_size, t.num_hidden_layers,
                t.hidden_act, t.layer_norm_eps, bf16),
        load, [](int i) { return clip_layer_names("text_model", i); },
        std::min<memory::dim>(ctx, 16));
    final_ln_ = make_layer_norm(load("text_model.final_layer_norm.weight", {TH}),
                                load("text_model.final_layer_norm.bias", {TH}));
    text_projection_ = make_linear(load("text_projection.weight", {proj_, TH}), {}, TH, proj_, 1);
    text_mm_ = row_linear(1, text_projection_, TH, proj_);
    text_ln_ = RowLayerNorm(1, TH, t.layer_norm_eps);
    const auto scale = load("logit_scale", {});
    logit_scale_exp_ = std::exp(scale.at(0));
  });
}

ClipEngineImpl::VisionPlan& ClipEngineImpl::vision_plan(memory::dim n) {
  auto it = vision_plans_.find(n);
  if (it != vision_plans_.end()) return it->second;
  const auto u = [](memory::dim x) { return static_cast<std::size_t>(x); };
  VisionPlan p;
  p.patches = Buffer(u(n * patches_ * patch_len_));
  p.patch_out = Buffer(u(n * patches_ * vh_));
  p.pooled = Buffer(u(n * vh_));
  p.embeds = Buffer(u(n * proj_));
  p.pre_ln = RowLayerNorm(n * tokens_, vh_, config_.vision.layer_norm_eps);
  p.post_ln = RowLayerNorm(n, vh_, config_.vision.layer_norm_eps);
  return vision_plans_.emplace(n, std::move(p)).first->second;
}

Tensor ClipEngineImpl::image_embeds(const Tensor& pixel_values) {
  const auto& v = config_.vision;
  const auto& s = pixel_values.shape;
  if (s.size() != 4 || s[0] < 1 || s[1] != v.num_channels || s[2] != v.image_size ||
      s[3] != v.image_size ||
      pixel_values.data.size() != static_cast<std::size_t>(pixel_values.numel()))
    throw Error(ErrorKind::kUnsupported, "pixel_values",
                "expected [N, " + std::to_string(v.num_channels) + ", " +
                    std::to_string(v.image_size) + ", " + std::to_string(v.image_size) +
                    "] for this model");
  const memory::dim n = s[0];
  set_threads(threads_);
  Tensor out({n, proj_});
  run_guarded("CLIP vision forward", [&] {
    VisionPlan& p = vision_plan(n);
    patchify(pixel_values.data.data(), n, v.num_channels, v.image_size, v.patch_size,
             p.patches.data());
    run_linear(patch_mm_, patch_embed_, n, p.patches.data(), p.patch_out.data());
    float* x = vision_encoder_->input(n);
    embed_patches(n, patches_, vh_, p.patch_out.data(), cls_pos_.data(), vision_position_.data(),
                  x);
    p.pre_ln.run(stream_, x, x, pre_ln_);
    const float* pooled = vision_encoder_->forward(n, stream_);
    p.post_ln.run(stream_, pooled, p.pooled.data(), post_ln_);
    run_linear(visual_mm_, visual_projection_, n, p.pooled.data(), p.embeds.data());
    std::memcpy(out.data.data(), p.embeds.data(), out.data.size() * sizeof(float));
  });
  return out;
}

ClipEngineImpl::TextRunner& ClipEngineImpl::text_runner(memory::dim length) {
  auto it = text_runners_.find(length);
  if (it != text_runners_.end()) return it->second;
  TextRunner r;
  r.encoder = std::make_unique<EncoderRunner>(text_weights_, length, length - 1, true);
  r.pooled = Buffer(static_cast<std::size_t>(th_));
  r.embeds = Buffer(static_cast<std::size_t>(proj_));
  return text_runners_.emplace(length, std::move(r)).first->second;
}

std::size_t ClipEngineImpl::pooled_position(const std::vector<std::int64_t>& ids) const {
  if (ids.empty()) return 0;
  if (config_.text.legacy_eos_pooling())  // torch.argmax: the first of the largest ids
    return static_cast<std::size_t>(std::max_element(ids.begin(), ids.end()) - ids.begin());
  const auto eos = std::find(ids.begin(), ids.end(), config_.text.eos_token_id);
  return eos == ids.end() ? 0 : static_cast<std::size_t>(eos - ids.begin());
}

Tensor ClipEngineImpl::text_embeds(const std::vector<std::vector<std::int64_t>>& ids) {
  const auto& t = config_.text;
  const auto n = static_cast<memory::dim>(ids.size());
  Tensor out({n, proj_});
  set_threads(threads_);
  for (memory::dim i = 0; i < n; ++i) {
    const auto& seq = ids[static_cast<std::size_t>(i)];
    if (seq.empty()) throw Error(ErrorKind::kUnsupported, "input_ids", "an empty text");
    if (seq.size() > static_cast<std::size_t>(t.max_position_embeddings))
      throw Error(ErrorKind::kUnsupported, "input_ids",
                  std::to_string(seq.size()) + " tokens, more than the context length " +
                      std::to_string(t.max_position_embeddings));
    for (const auto id : seq)
      if (id < 0 || id >= t.vocab_size)
        throw Error(ErrorKind::kUnsupported, "input_ids",
                    "token id " + std::to_string(id) + " outside the vocabulary of " +
                        std::to_string(t.vocab_size));
    const auto len = static_cast<memory::dim>(pooled_position(seq) + 1);
    run_guarded("CLIP text forward", [&] {
      TextRunner& r = text_runner(len);
      float* x = r.encoder->input(1);
      const std::size_t H = static_cast<std::size_t>(th_);
      for (memory::dim pos = 0; pos < len; ++pos) {
        const float* tok = token_embedding_.data() + static_cast<std::size_t>(seq[pos]) * H;
        const float* pe = text_position_.data() + static_cast<std::size_t>(pos) * H;
        float* dst = x + static_cast<std::size_t>(pos) * H;
        for (std::size_t h = 0; h < H; ++h) dst[h] = tok[h] + pe[h];
      }
      const float* pooled = r.encoder->forward(1, stream_);
      text_ln_.run(stream_, pooled, r.pooled.data(), final_ln_);
      run_linear(text_mm_, text_projection_, 1, r.pooled.data(), r.embeds.data());
      std::memcpy(out.data.data() + i * proj_, r.embeds.data(),
                  static_cast<std::size_t>(proj_) * sizeof(float));
    });
  }
  return out;
}

// x / ||x||_2 per row, in float as torch does (the norm's sum in double here: within rounding).
std::vector<float> normalized_rows(const float* x, std::int64_t rows, std::int64_t cols) {
  std::vector<float> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (std::int64_t c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
    const auto norm = static_cast<float>(std::sqrt(ss));
    for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] / norm;
  }
  return out;
}

class ZeroShotEngine final : public Engine {
 public:
  ZeroShotEngine(std::shared_ptr<ClipEngine> clip, const Tensor& text_embeds)
      : clip_(std::move(clip)), text_(text_embeds) {}

  Tensor forward(const Tensor& pixel_values) override {
    return zero_shot_logits(clip_->image_embeds(pixel_values), text_, clip_->logit_scale_exp());
  }
  void observe_ranges(ActivationRanges* ranges) override { clip_->observe_ranges(ranges); }

 private:
  std::shared_ptr<ClipEngine> clip_;
  Tensor text_;
};

}  // namespace

std::unique_ptr<ClipEngine> make_clip_engine(const ClipConfig& config, const WeightLoader& load,
                                             int threads, Precision precision,
                                             const ActivationRanges* ranges) {
  return std::make_unique<ClipEngineImpl>(config, load, threads, precision, ranges);
}

}  // namespace binscan::engine_internal

namespace binscan {

Tensor zero_shot_logits(const Tensor& image_embeds, const Tensor& text_embeds,
                        float logit_scale_exp) {
  using engine_internal::normalized_rows;
  const std::int64_t n = image_embeds.shape.at(0), dim = image_embeds.shape.at(1);
  const std::int64_t texts = text_embeds.shape.at(0);
  if (text_embeds.shape.at(1) != dim)
    throw Error(ErrorKind::kInternal, "text_embeds", "projection sizes differ");
  const std::vector<float> im = normalized_rows(image_embeds.data.data(), n, dim);
  const std::vector<float> text = normalized_rows(text_embeds.data.data(), texts, dim);
  Tensor logits({n, texts});
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < texts; ++j) {
      double dot = 0;
      for (std::int64_t k = 0; k < dim; ++k) dot += double(im[i * dim + k]) * text[j * dim + k];
      logits.data[i * texts + j] = static_cast<float>(dot) * logit_scale_exp;
    }
  return logits;
}

std::unique_ptr<Engine> make_zero_shot_engine(std::shared_ptr<ClipEngine> clip,
                                              const Tensor& text_embeds) {
  if (text_embeds.shape.size() != 2 || text_embeds.shape[0] < 1)
    throw Error(ErrorKind::kUnsupported, "candidate labels", "no candidate labels");
  return std::make_unique<engine_internal::ZeroShotEngine>(std::move(clip), text_embeds);
}

}  // namespace binscan

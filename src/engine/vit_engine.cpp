// ViTForImageClassification (transformers' modeling_vit.py, eval mode) on oneDNN: the patch
// embedding (a conv with stride = kernel, run as a matmul over flattened patches), the class token
// and position embeddings, the shared pre-LayerNorm encoder (engine/transformer.h: attention, MLP,
// LayerNorm, batch- and thread-invariant), the final LayerNorm and the classifier on the class
// token. With bf16 (Precision::kBf16) the linear layers but the classifier hold bf16 weights and
// round their input rows to bf16 (RowChunkedMatmul); everything between them stays fp32. With
// int8 (Precision::kInt8, static post-training quantisation) the encoder's qkv, attention output,
// fc1 and fc2 are int8 matmuls (see EncoderWeights for what stays fp32); the patch embedding
// (0.7% of the work, and its input is the raw pixels, like ResNet's stem) and the classifier
// stay fp32, as do attention, softmax, LayerNorm, GELU and the residual sums.
#include <omp.h>

#include <algorithm>
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

class VitEngine final : public Engine {
 public:
  VitEngine(const VitConfig& config, int num_labels, const WeightLoader& load, int threads,
            Precision precision, const ActivationRanges* ranges);
  Tensor forward(const Tensor& pixel_values) override;
  void observe_ranges(ActivationRanges* ranges) override { encoder_->observe_ranges(ranges); }

 private:
  // What depends on the batch size beyond the encoder's own buffers.
  struct Plan {
    Buffer patches, patch_out, pooled, logits;
    RowLayerNorm final_ln;
  };
  Plan& plan(memory::dim n);

  VitConfig config_;
  memory::dim labels_, hidden_, patches_, tokens_, channels_, patch_, patch_len_;
  int threads_;
  Linear patch_embed_;
  std::vector<float> cls_pos_;   // cls_token + position_embeddings[0]
  std::vector<float> position_;  // position_embeddings [T, H]
  EncoderWeights encoder_weights_;
  std::unique_ptr<EncoderRunner> encoder_;
  LayerNorm final_ln_;
  Linear classifier_;
  RowChunkedMatmul patch_mm_, classifier_mm_;
  std::map<memory::dim, Plan> plans_;
  dnnl::stream stream_;
};

VitEngine::VitEngine(const VitConfig& c, int num_labels, const WeightLoader& load, int threads,
                     Precision precision, const ActivationRanges* ranges)
    : config_(c), threads_(threads), stream_(cpu_engine()) {
  const bool bf16 = precision == Precision::kBf16;
  if (precision == Precision::kInt8 && ranges == nullptr)
    throw Error(ErrorKind::kConfig, "--precision int8", "int8 needs a calibration");
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads)
    throw Error(ErrorKind::kConfig, "config.json",
                "hidden_size must be a positive multiple of num_attention_heads");
  if (c.patch_size <= 0 || c.image_size < c.patch_size || c.num_channels <= 0 ||
      c.intermediate_size <= 0 || c.num_hidden_layers < 0)
    throw Error(ErrorKind::kConfig, "config.json", "invalid ViT dimensions");
  if (num_labels <= 0) throw Error(ErrorKind::kConfig, "config.json", "the model has no labels");
  labels_ = num_labels;
  hidden_ = c.hidden_size;
  patch_ = c.patch_size;
  const memory::dim grid = c.image_size / c.patch_size;  // nn.Conv2d with stride = kernel floors
  patches_ = grid * grid;
  tokens_ = patches_ + 1;
  channels_ = c.num_channels;
  patch_len_ = channels_ * patch_ * patch_;
  set_threads(threads_);

  const memory::dim H = hidden_, T = tokens_;
  run_guarded("ViT weights", [&] {
    patch_embed_ = make_linear(
        load("vit.embeddings.patch_embeddings.projection.weight", {H, channels_, patch_, patch_}),
        load("vit.embeddings.patch_embeddings.projection.bias", {H}), patch_len_, H,
        RowChunkedMatmul::chunk_rows(patches_), bf16);
    const auto cls = load("vit.embeddings.cls_token", {1, 1, H});
    position_ = load("vit.embeddings.position_embeddings", {1, T, H});
    cls_pos_.resize(static_cast<std::size_t>(H));
    for (std::size_t i = 0; i < cls_pos_.size(); ++i) cls_pos_[i] = cls[i] + position_[i];

    EncoderSpec spec;
    spec.hidden = H;
    spec.heads = c.num_attention_heads;
    spec.intermediate = c.intermediate_size;
    spec.layers = c.num_hidden_layers;
    spec.act = c.hidden_act;
    spec.layer_norm_eps = c.layer_norm_eps;
    spec.qkv_bias = c.qkv_bias;
    spec.bf16 = bf16;
    spec.int8_ranges = precision == Precision::kInt8 ? ranges : nullptr;
    encoder_weights_ = EncoderWeights(
        spec, load,
        [](int i) {
          const std::string p = "vit.encoder.layer." + std::to_string(i) + ".";
          const std::string a = p + "attention.attention.";
          return LayerNames{a + "query",
                            a + "key",
                            a + "value",
                            p + "attention.output.dense",
                            p + "intermediate.dense",
                            p + "output.dense",
                            p + "layernorm_before",
                            p + "layernorm_after"};
        },
        T);
    encoder_ = std::make_unique<EncoderRunner>(encoder_weights_, T, 0, false);
    final_ln_ = make_layer_norm(load("vit.layernorm.weight", {H}), load("vit.layernorm.bias", {H}));
    // The classifier stays fp32: under 1% of the work, and it writes the logits directly.
    classifier_ = make_linear(load("classifier.weight", {labels_, H}),
                              load("classifier.bias", {labels_}), H, labels_, 1);
    patch_mm_ = row_linear(patches_, patch_embed_, patch_len_, H);
    classifier_mm_ = row_linear(1, classifier_, H, labels_);
  });
}

VitEngine::Plan& VitEngine::plan(memory::dim n) {
  auto it = plans_.find(n);
  if (it != plans_.end()) return it->second;
  const auto u = [](memory::dim v) { return static_cast<std::size_t>(v); };
  Plan p;
  p.patches = Buffer(u(n * patches_ * patch_len_));
  p.patch_out = Buffer(u(n * patches_ * hidden_));
  p.pooled = Buffer(u(n * hidden_));
  p.logits = Buffer(u(n * labels_));
  p.final_ln = RowLayerNorm(n, hidden_, config_.layer_norm_eps);
  return plans_.emplace(n, std::move(p)).first->second;
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
  const memory::dim n = s[0];
  set_threads(threads_);
  Tensor logits({n, labels_});
  run_guarded("ViT forward", [&] {
    Plan& p = plan(n);
    patchify(pixel_values.data.data(), n, channels_, config_.image_size, patch_, p.patches.data());
    run_linear(patch_mm_, patch_embed_, n, p.patches.data(), p.patch_out.data());
    // x = concat(cls_token, patch embeddings) + position_embeddings.
    embed_patches(n, patches_, hidden_, p.patch_out.data(), cls_pos_.data(), position_.data(),
                  encoder_->input(n));
    const float* pooled = encoder_->forward(n, stream_);
    p.final_ln.run(stream_, pooled, p.pooled.data(), final_ln_);
    run_linear(classifier_mm_, classifier_, n, p.pooled.data(), p.logits.data());
    std::memcpy(logits.data.data(), p.logits.data(), logits.data.size() * sizeof(float));
  });
  return logits;
}

}  // namespace

std::unique_ptr<Engine> make_vit_engine(const VitConfig& config, int num_labels,
                                        const WeightLoader& load, int threads, Precision precision,
                                        const ActivationRanges* ranges) {
  return std::make_unique<VitEngine>(config, num_labels, load, threads, precision, ranges);
}

}  // namespace binscan::engine_internal

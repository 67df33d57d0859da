// Layer engine/ owns the oneDNN forward passes (ViT, ResNet, CLIP's two towers). May use: model,
// preprocess, image, util.
//
// The inference engine: runs a checkpoint's forward pass on the CPU with oneDNN.
// Knows nothing of files or JSON beyond the Checkpoint it is built from.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/checkpoint.h"
#include "util/tensor.h"

namespace binscan {

// The arithmetic of the matmuls and convolutions. kBf16: weights reordered to bfloat16 once,
// activations rounded to bfloat16 on their way into each matmul / convolution, fp32
// accumulation; LayerNorm, softmax, attention, GELU, pooling, residual sums and the classifier
// stay fp32. kInt8: static post-training quantisation (see ActivationRanges): weights int8 with
// one scale per output channel, each quantised layer's input int8 with one scale per tensor from
// a calibration, int32 accumulation; the rest as for bf16. ResNet, ViT and CLIP's image tower.
enum class Precision { kFp32, kBf16, kInt8 };
std::string_view precision_name(Precision precision);  // "fp32", "bf16", "int8"

// Empty when oneDNN runs bf16 natively here (AVX-512 BF16 or AMX, as far as ONEDNN_MAX_CPU_ISA
// lets it); else one sentence saying what is missing, for a refusal.
std::string bf16_unsupported_reason();

// Empty when oneDNN runs int8 with a fast kernel here (AVX2 and up, as far as ONEDNN_MAX_CPU_ISA
// lets it); else one sentence saying what is missing.
std::string int8_unsupported_reason();

// The calibration int8 needs: the largest |value| seen at the input of each quantised layer (by
// its module path, e.g. "resnet.encoder.stages.0.layers.0.layer.1") over a set of photos.
using ActivationRanges = std::map<std::string, float>;

struct EngineOptions {
  int threads = 0;  // 0: all cores
  Precision precision = Precision::kFp32;
  // kInt8: required, with a range for every quantised layer (else Error(kConfig)).
  std::shared_ptr<const ActivationRanges> ranges;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // pixel_values [N, C, H, W] -> logits [N, num_labels]. Any N >= 1; primitives for a batch size
  // are created on first use and cached, buffers are reused across calls. Not thread-safe.
  virtual Tensor forward(const Tensor& pixel_values) = 0;
  // Calibration: while `ranges` is set (not null), every forward() also widens ranges[name] to
  // the largest |value| at the input of each layer int8 would quantise. fp32 engines only;
  // throws Error(kUnsupported) for architectures without int8 (the zero-shot engine passes it
  // to its ClipEngine).
  virtual void observe_ranges(ActivationRanges* ranges);
};

// CLIPModel's two towers (transformers' modeling_clip.py, eval mode). Embeddings are projected,
// not normalised. Not thread-safe.
class ClipEngine {
 public:
  virtual ~ClipEngine() = default;
  // pixel_values [N, C, S, S] -> image_embeds [N, projection_dim]: visual_projection of the
  // post-LayerNorm class token. The same bits per image whatever its batch and the threads.
  virtual Tensor image_embeds(const Tensor& pixel_values) = 0;
  // Token ids (start ... end-of-text, padded or not) -> text_embeds [n, projection_dim]:
  // text_projection of the final-LayerNorm end-of-text token, which transformers picks as
  // argmax(ids) for configs with eos_token_id 2, else the first eos_token_id (position 0 when
  // there is none). Padding after it never reaches it (causal attention), so each text runs up
  // to that token only and its embedding does not depend on the others. Throws
  // Error(kUnsupported) for an id outside the vocabulary or a text longer than the context.
  virtual Tensor text_embeds(const std::vector<std::vector<std::int64_t>>& ids) = 0;
  // exp(logit_scale): the temperature of the similarities.
  virtual float logit_scale_exp() const = 0;
  virtual int context_length() const = 0;  // max_position_embeddings
  // Calibration, as Engine::observe_ranges, for the image tower (the only one int8 quantises:
  // the text tower runs once per label set, not per photo).
  virtual void observe_ranges(ActivationRanges* ranges);
};

// A zero-shot classifier over fixed candidate texts: forward(pixel_values) gives transformers'
// logits_per_image [N, texts] = exp(logit_scale) * cosine(image_embeds, text_embeds).
// `text_embeds` [texts, projection_dim] as ClipEngine::text_embeds returns them (computed once
// per label set, shared by every photo).
std::unique_ptr<Engine> make_zero_shot_engine(std::shared_ptr<ClipEngine> clip,
                                              const Tensor& text_embeds);

// logits_per_image [N, T] = exp(logit_scale) * cosine(image_embeds [N, D], text_embeds [T, D]):
// what the zero-shot engine computes, for a caller holding image embeddings and choosing the
// texts afterwards (serve, whose requests bring their own candidate labels). Same bits.
Tensor zero_shot_logits(const Tensor& image_embeds, const Tensor& text_embeds,
                        float logit_scale_exp);

// Builds a CLIPModel's towers (same errors as create_engine).
std::unique_ptr<ClipEngine> create_clip_engine(const Checkpoint& checkpoint,
                                               const EngineOptions& options);

// Prepares the weights once (folded BatchNorm, oneDNN layouts); the checkpoint's mapping may be
// released afterwards. Throws Error(kCheckpoint / kUnsupported), kUnsupported also for bf16 on a
// CPU without it (bf16_unsupported_reason).
std::unique_ptr<Engine> create_engine(const Checkpoint& checkpoint, const EngineOptions& options);

}  // namespace binscan

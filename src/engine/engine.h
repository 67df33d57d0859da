// Layer engine/ owns the oneDNN forward passes (ViT, ResNet). May use: model, preprocess, image,
// util.
//
// The inference engine: runs a checkpoint's forward pass on the CPU with oneDNN.
// Knows nothing of files or JSON beyond the Checkpoint it is built from.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "model/checkpoint.h"
#include "util/tensor.h"

namespace binscan {

// The arithmetic of the matmuls and convolutions. kBf16: weights reordered to bfloat16 once,
// activations rounded to bfloat16 on their way into each matmul / convolution, fp32
// accumulation; LayerNorm, softmax, attention, GELU, pooling, residual sums and the classifier
// stay fp32.
enum class Precision { kFp32, kBf16 };
std::string_view precision_name(Precision precision);  // "fp32", "bf16"

// Empty when oneDNN runs bf16 natively here (AVX-512 BF16 or AMX, as far as ONEDNN_MAX_CPU_ISA
// lets it); else one sentence saying what is missing, for a refusal.
std::string bf16_unsupported_reason();

struct EngineOptions {
  int threads = 0;  // 0: all cores
  Precision precision = Precision::kFp32;
};

class Engine {
 public:
  virtual ~Engine() = default;
  // pixel_values [N, C, H, W] -> logits [N, num_labels]. Any N >= 1; primitives for a batch size
  // are created on first use and cached, buffers are reused across calls. Not thread-safe.
  virtual Tensor forward(const Tensor& pixel_values) = 0;
};

// Prepares the weights once (folded BatchNorm, oneDNN layouts); the checkpoint's mapping may be
// released afterwards. Throws Error(kCheckpoint / kUnsupported), kUnsupported also for bf16 on a
// CPU without it (bf16_unsupported_reason).
std::unique_ptr<Engine> create_engine(const Checkpoint& checkpoint, const EngineOptions& options);

}  // namespace binscan

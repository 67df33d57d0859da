// Layer engine/ owns the oneDNN forward passes (ViT, ResNet). May use: model, preprocess, image,
// util.
//
// The inference engine: runs a checkpoint's forward pass on the CPU with oneDNN.
// Knows nothing of files or JSON beyond the Checkpoint it is built from.
#pragma once

#include <memory>

#include "model/checkpoint.h"
#include "util/tensor.h"

namespace binscan {

struct EngineOptions {
  int threads = 0;  // 0: all cores
};

class Engine {
 public:
  virtual ~Engine() = default;
  // pixel_values [N, C, H, W] -> logits [N, num_labels]. Any N >= 1; primitives for a batch size
  // are created on first use and cached, buffers are reused across calls. Not thread-safe.
  virtual Tensor forward(const Tensor& pixel_values) = 0;
};

// Prepares the weights once (folded BatchNorm, oneDNN layouts); the checkpoint's mapping may be
// released afterwards. Throws Error(kCheckpoint / kUnsupported).
std::unique_ptr<Engine> create_engine(const Checkpoint& checkpoint, const EngineOptions& options);

}  // namespace binscan

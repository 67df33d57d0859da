// The architectures' engines, built from a config and a weight loader (engine-internal).
#pragma once

#include <memory>

#include "engine/dnnl_support.h"
#include "engine/engine.h"
#include "model/config.h"

namespace binscan::engine_internal {

// ViTForImageClassification. `threads` > 0. kBf16: every linear layer but the classifier in
// bf16 (see Precision::kBf16). kInt8 (with `ranges`): the encoder's linear layers in int8, see
// vit_engine.cpp.
std::unique_ptr<Engine> make_vit_engine(const VitConfig& config, int num_labels,
                                        const WeightLoader& load, int threads,
                                        Precision precision = Precision::kFp32,
                                        const ActivationRanges* ranges = nullptr);

// ResNetForImageClassification. Weight layouts are chosen for input images of
// ref_height x ref_width (the processor's output size); other sizes work too. kBf16: every
// convolution with a native bf16 kernel in bf16 (see Precision::kBf16), the classifier in fp32.
// kInt8 (with `ranges`): every convolution but the stem in int8, see resnet_engine.cpp.
std::unique_ptr<Engine> make_resnet_engine(const ResNetConfig& config, int num_labels,
                                           const WeightLoader& load, int threads, int ref_height,
                                           int ref_width, Precision precision = Precision::kFp32,
                                           const ActivationRanges* ranges = nullptr);

// CLIPModel. kBf16: the encoders' and patch embedding's linear layers in bf16, the projections
// in fp32. kInt8 (with `ranges`): the image tower's encoder linear layers in int8, the text
// tower in fp32 (see clip_engine.cpp).
std::unique_ptr<ClipEngine> make_clip_engine(const ClipConfig& config, const WeightLoader& load,
                                             int threads, Precision precision = Precision::kFp32,
                                             const ActivationRanges* ranges = nullptr);

}  // namespace binscan::engine_internal

// Layer model/ owns reading a checkpoint: config.json, safetensors (mmap, F32/F16/BF16, shards)
// and the processor config beside them. May use: preprocess, image, util.
//
// A Hugging Face model directory: config.json + preprocessor_config.json + safetensors weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"
#include "preprocess/processor.h"

namespace binscan {

// A tensor's float32 values: a view straight into the mapping when the tensor is stored as F32
// at a 4-byte-aligned offset (no copy), otherwise converted values owned by this object. Valid
// while the Weights it came from lives.
class FloatTensor {
 public:
  FloatTensor() = default;
  static FloatTensor view(std::span<const float> values);
  static FloatTensor owned(std::vector<float> values);

  std::span<const float> values() const { return view_; }
  bool is_view() const { return owned_.empty() && !view_.empty(); }

  FloatTensor(FloatTensor&& other) noexcept;
  FloatTensor& operator=(FloatTensor&& other) noexcept;
  FloatTensor(const FloatTensor&) = delete;
  FloatTensor& operator=(const FloatTensor&) = delete;

 private:
  std::vector<float> owned_;
  std::span<const float> view_;
};

// All tensors of a checkpoint (model.safetensors, or the shards named by
// model.safetensors.index.json), memory-mapped read-only for as long as this object lives.
class Weights {
 public:
  // Throws Error(kIo / kFormat / kUnsupported) naming the file (and tensor where relevant).
  static Weights open(const std::filesystem::path& model_dir);

  Weights(Weights&&) noexcept;
  Weights& operator=(Weights&&) noexcept;
  ~Weights();

  bool contains(const std::string& name) const;
  const TensorRecord& record(const std::string& name) const;  // Error(kCheckpoint) if missing
  std::vector<std::string> names() const;

  // The tensor as float32, converted from F16/BF16/F64 if needed; throws Error(kCheckpoint)
  // naming file and tensor when it is missing or its shape differs from `expected_shape`, and
  // Error(kUnsupported) when its dtype is not a floating-point one we read.
  std::vector<float> load_f32(const std::string& name,
                              const std::vector<std::int64_t>& expected_shape) const;

  // The same values without a copy when possible (F32, aligned): lets the engine reorder
  // weights straight from the page cache so they are never held twice. Same checks as load_f32.
  FloatTensor view_f32(const std::string& name,
                       const std::vector<std::int64_t>& expected_shape) const;

  // Checks presence, shape and a readable dtype without reading the data (same errors).
  void check(const std::string& name, const std::vector<std::int64_t>& expected_shape) const;

  // Total bytes of tensor data mapped.
  std::uint64_t total_bytes() const;

 private:
  struct Impl;
  explicit Weights(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One tensor the architecture needs, with the name and shape transformers gives it.
struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
};

// Every tensor ViTForImageClassification / ResNetForImageClassification reads for `config`
// (bookkeeping tensors such as num_batches_tracked are not needed and not listed).
std::vector<TensorSpec> expected_tensors(const ModelConfig& config);

struct Checkpoint {
  std::filesystem::path dir;
  ModelConfig config;
  ProcessorConfig processor;
  Weights weights;

  // Reads config.json, preprocessor_config.json and the weights of `model_dir`, and checks that
  // every tensor of expected_tensors(config) is present with its shape and a readable dtype, so
  // a bad checkpoint fails here with one error naming the file and tensor.
  static Checkpoint load(const std::filesystem::path& model_dir);
};

}  // namespace binscan

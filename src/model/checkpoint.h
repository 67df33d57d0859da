// A Hugging Face model directory: config.json + preprocessor_config.json + safetensors weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"
#include "preprocess/processor.h"

namespace binscan {

enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };

// One tensor inside a memory-mapped safetensors file.
struct TensorRecord {
  std::string name;
  DType dtype{};
  std::vector<std::int64_t> shape;
  std::span<const std::uint8_t> bytes;  // points into the mapping
  std::filesystem::path file;
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
  // naming file and tensor when it is missing or its shape differs from `expected_shape`.
  std::vector<float> load_f32(const std::string& name,
                              const std::vector<std::int64_t>& expected_shape) const;

 private:
  struct Impl;
  explicit Weights(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct Checkpoint {
  std::filesystem::path dir;
  ModelConfig config;
  ProcessorConfig processor;
  Weights weights;

  static Checkpoint load(const std::filesystem::path& model_dir);
};

}  // namespace binscan

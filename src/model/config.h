// config.json of a Hugging Face image-classification checkpoint: the architecture description
// and every field that changes the computation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace binscan {

// transformers' ACT2FN names we support.
enum class Activation {
  kGelu,
  kGeluTanh /* gelu_new, gelu_pytorch_tanh, gelu_fast */,
  kRelu,
  kSilu,
  kQuickGelu
};

// transformers' hidden_act name -> Activation: gelu, gelu_python (exact erf); gelu_new,
// gelu_pytorch_tanh, gelu_fast, gelu_accurate (tanh approximation, equal within float rounding);
// relu; silu, swish; quick_gelu. nullopt for names we do not run (gelu_10, mish, relu6, ...).
std::optional<Activation> parse_activation(std::string_view name);
std::string_view activation_name(
    Activation act);  // "gelu", "gelu_tanh", "relu", "silu", "quick_gelu"

struct VitConfig {
  int hidden_size = 768;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int intermediate_size = 3072;
  Activation hidden_act = Activation::kGelu;
  double layer_norm_eps = 1e-12;
  int image_size = 224;
  int patch_size = 16;
  int num_channels = 3;
  bool qkv_bias = true;
};

struct ResNetConfig {
  enum class LayerType { kBasic, kBottleneck };
  int num_channels = 3;
  int embedding_size = 64;
  std::vector<int> hidden_sizes{256, 512, 1024, 2048};
  std::vector<int> depths{3, 4, 6, 3};
  LayerType layer_type = LayerType::kBottleneck;
  Activation hidden_act = Activation::kRelu;
  bool downsample_in_first_stage = false;
  bool downsample_in_bottleneck = false;
};

// CLIPTextConfig: the text tower. Pooling: transformers takes the end-of-text token as
// input_ids.argmax() when eos_token_id is 2 (configs written before transformers 4.31, where the
// tokenizer's real end-of-text id 49407 is the largest id), else the first eos_token_id.
struct ClipTextConfig {
  int vocab_size = 49408;
  int hidden_size = 512;
  int intermediate_size = 2048;
  int num_hidden_layers = 12;
  int num_attention_heads = 8;
  int max_position_embeddings = 77;
  Activation hidden_act = Activation::kQuickGelu;
  double layer_norm_eps = 1e-5;
  std::int64_t eos_token_id = 49407;
  bool legacy_eos_pooling() const { return eos_token_id == 2; }
};

// CLIPVisionConfig: the vision tower.
struct ClipVisionConfig {
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 32;
  Activation hidden_act = Activation::kQuickGelu;
  double layer_norm_eps = 1e-5;
};

// CLIPModel: both towers and their common embedding size.
struct ClipConfig {
  ClipTextConfig text;
  ClipVisionConfig vision;
  int projection_dim = 512;
};

enum class ProblemType { kSingleLabel, kMultiLabel, kRegression };

struct ModelConfig {
  // "ViTForImageClassification" | "ResNetForImageClassification" | "CLIPModel"
  std::string architecture;
  std::string model_type;  // "vit" | "resnet" | "clip"
  std::variant<VitConfig, ResNetConfig, ClipConfig> arch;
  std::vector<std::string> id2label;  // index = class id; size = num_labels
  ProblemType problem_type = ProblemType::kSingleLabel;

  int num_labels() const { return static_cast<int>(id2label.size()); }
  bool is_vit() const { return std::holds_alternative<VitConfig>(arch); }
  // A zero-shot model: its labels are the candidate labels of each request, not id2label.
  bool is_clip() const { return std::holds_alternative<ClipConfig>(arch); }

  // Parses config.json as transformers' PretrainedConfig does: absent fields take the defaults of
  // ViTConfig / ResNetConfig / CLIPConfig (text_config and vision_config objects, overlaid by
  // the old text_config_dict / vision_config_dict when present); id2label keys are strings of ints
  // and give num_labels; without id2label, num_labels (default 2) gives labels "LABEL_i". The
  // architecture comes from "architectures" (or model_type when that is absent). Throws
  // Error(kConfig) for invalid values, Error(kUnsupported) for other architectures or activations,
  // each naming `source`.
  static ModelConfig from_json(const nlohmann::json& json, const std::string& source);
  static ModelConfig from_file(const std::filesystem::path& path);
};

}  // namespace binscan

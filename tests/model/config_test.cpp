// config.json parsing against transformers' ViTConfig / ResNetConfig / PretrainedConfig rules.
#include "model/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

using nlohmann::json;

ErrorKind error_kind_of(const json& j, std::string* message = nullptr) {
  try {
    ModelConfig::from_json(j, "/m/config.json");
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << j.dump();
  return ErrorKind::kInternal;
}

TEST(ModelConfig, VitAllFields) {
  const auto c = ModelConfig::from_json(json::parse(R"({
    "architectures": ["ViTForImageClassification"], "model_type": "vit",
    "hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 3, "intermediate_size": 96,
    "hidden_act": "gelu_new", "layer_norm_eps": 1e-6, "image_size": 64, "patch_size": 16,
    "num_channels": 3, "qkv_bias": false,
    "id2label": {"1": "trash bin", "0": "no bin"}, "label2id": {"no bin": 0, "trash bin": 1},
    "problem_type": "multi_label_classification", "torch_dtype": "float32"})"),
                                        "x");
  ASSERT_TRUE(c.is_vit());
  const auto& v = std::get<VitConfig>(c.arch);
  EXPECT_EQ(c.architecture, "ViTForImageClassification");
  EXPECT_EQ(v.hidden_size, 48);
  EXPECT_EQ(v.num_hidden_layers, 2);
  EXPECT_EQ(v.num_attention_heads, 3);
  EXPECT_EQ(v.intermediate_size, 96);
  EXPECT_EQ(v.hidden_act, Activation::kGeluTanh);
  EXPECT_DOUBLE_EQ(v.layer_norm_eps, 1e-6);
  EXPECT_EQ(v.image_size, 64);
  EXPECT_EQ(v.patch_size, 16);
  EXPECT_FALSE(v.qkv_bias);
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"no bin", "trash bin"}));
  EXPECT_EQ(c.num_labels(), 2);
  EXPECT_EQ(c.problem_type, ProblemType::kMultiLabel);
}

TEST(ModelConfig, VitDefaultsAreTransformers) {
  // A config with only the architecture: every field takes ViTConfig's default, and
  // PretrainedConfig's num_labels default of 2 gives LABEL_0, LABEL_1.
  const auto c =
      ModelConfig::from_json(json{{"architectures", {"ViTForImageClassification"}}}, "x");
  const auto& v = std::get<VitConfig>(c.arch);
  EXPECT_EQ(v.hidden_size, 768);
  EXPECT_EQ(v.num_hidden_layers, 12);
  EXPECT_EQ(v.num_attention_heads, 12);
  EXPECT_EQ(v.intermediate_size, 3072);
  EXPECT_EQ(v.hidden_act, Activation::kGelu);
  EXPECT_DOUBLE_EQ(v.layer_norm_eps, 1e-12);
  EXPECT_EQ(v.image_size, 224);
  EXPECT_EQ(v.patch_size, 16);
  EXPECT_EQ(v.num_channels, 3);
  EXPECT_TRUE(v.qkv_bias);
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"LABEL_0", "LABEL_1"}));
  EXPECT_EQ(c.problem_type, ProblemType::kSingleLabel);
}

TEST(ModelConfig, NumLabelsWithoutId2Label) {
  const auto c = ModelConfig::from_json(
      json{{"architectures", {"ViTForImageClassification"}}, {"num_labels", 4}}, "x");
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"}));
}

TEST(ModelConfig, ModelTypeWithoutArchitectures) {
  const auto c = ModelConfig::from_json(json{{"model_type", "resnet"}}, "x");
  EXPECT_EQ(c.architecture, "ResNetForImageClassification");
  EXPECT_FALSE(c.is_vit());
}

TEST(ModelConfig, ResNetFieldsAndDefaults) {
  const auto d =
      ModelConfig::from_json(json{{"architectures", {"ResNetForImageClassification"}}}, "x");
  const auto& r = std::get<ResNetConfig>(d.arch);
  EXPECT_EQ(r.embedding_size, 64);
  EXPECT_EQ(r.hidden_sizes, (std::vector<int>{256, 512, 1024, 2048}));
  EXPECT_EQ(r.depths, (std::vector<int>{3, 4, 6, 3}));
  EXPECT_EQ(r.layer_type, ResNetConfig::LayerType::kBottleneck);
  EXPECT_EQ(r.hidden_act, Activation::kRelu);
  EXPECT_FALSE(r.downsample_in_first_stage);
  EXPECT_FALSE(r.downsample_in_bottleneck);

  const auto c = ModelConfig::from_json(json::parse(R"({
    "architectures": ["ResNetForImageClassification"], "embedding_size": 32,
    "hidden_sizes": [64, 128], "depths": [2, 1], "layer_type": "basic", "hidden_act": "silu",
    "downsample_in_first_stage": true, "downsample_in_bottleneck": true,
    "id2label": {"0": "a", "1": "b", "2": "c"}})"),
                                        "x");
  const auto& b = std::get<ResNetConfig>(c.arch);
  EXPECT_EQ(b.embedding_size, 32);
  EXPECT_EQ(b.hidden_sizes, (std::vector<int>{64, 128}));
  EXPECT_EQ(b.depths, (std::vector<int>{2, 1}));
  EXPECT_EQ(b.layer_type, ResNetConfig::LayerType::kBasic);
  EXPECT_EQ(b.hidden_act, Activation::kSilu);
  EXPECT_TRUE(b.downsample_in_first_stage);
  EXPECT_TRUE(b.downsample_in_bottleneck);
  EXPECT_EQ(c.num_labels(), 3);
}

TEST(ModelConfig, ActivationNames) {
  EXPECT_EQ(parse_activation("gelu"), Activation::kGelu);
  EXPECT_EQ(parse_activation("gelu_python"), Activation::kGelu);
  EXPECT_EQ(parse_activation("gelu_new"), Activation::kGeluTanh);
  EXPECT_EQ(parse_activation("gelu_pytorch_tanh"), Activation::kGeluTanh);
  EXPECT_EQ(parse_activation("gelu_fast"), Activation::kGeluTanh);
  EXPECT_EQ(parse_activation("relu"), Activation::kRelu);
  EXPECT_EQ(parse_activation("silu"), Activation::kSilu);
  EXPECT_EQ(parse_activation("swish"), Activation::kSilu);
  EXPECT_EQ(parse_activation("quick_gelu"), Activation::kQuickGelu);
  EXPECT_EQ(parse_activation("mish"), std::nullopt);
  std::string msg;
  EXPECT_EQ(error_kind_of(
                {{"architectures", {"ViTForImageClassification"}}, {"hidden_act", "mish"}}, &msg),
            ErrorKind::kUnsupported);
  EXPECT_NE(msg.find("/m/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mish"), std::string::npos) << msg;
}

TEST(ModelConfig, Id2LabelKeysAndGaps) {
  // Keys are strings of ints in any order; num_labels is their count (PretrainedConfig).
  const auto c = ModelConfig::from_json(json{{"architectures", {"ViTForImageClassification"}},
                                             {"id2label", {{"2", "c"}, {"0", "a"}, {"1", "b"}}},
                                             {"num_labels", 3}},
                                        "x");
  EXPECT_EQ(c.id2label, (std::vector<std::string>{"a", "b", "c"}));
  std::string msg;
  EXPECT_EQ(error_kind_of({{"architectures", {"ViTForImageClassification"}},
                           {"id2label", {{"0", "a"}, {"5", "b"}}}},
                          &msg),
            ErrorKind::kConfig);
  EXPECT_NE(msg.find("id2label"), std::string::npos) << msg;
  EXPECT_EQ(error_kind_of(
                {{"architectures", {"ViTForImageClassification"}}, {"id2label", {{"zero", "a"}}}}),
            ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(
                {{"architectures", {"ViTForImageClassification"}}, {"id2label", json::object()}}),
            ErrorKind::kConfig);
}

TEST(ModelConfig, UnknownArchitectureNamesTheFile) {
  std::string msg;
  EXPECT_EQ(error_kind_of({{"architectures", {"BertForSequenceClassification"}}}, &msg),
            ErrorKind::kUnsupported);
  EXPECT_NE(msg.find("/m/config.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("BertForSequenceClassification"), std::string::npos) << msg;
  EXPECT_EQ(error_kind_of({{"model_type", "deit"}}), ErrorKind::kUnsupported);
  EXPECT_EQ(error_kind_of({{"architectures", {"ViTModel"}}}), ErrorKind::kUnsupported);
}

TEST(ModelConfig, InvalidValues) {
  const json vit{{"architectures", {"ViTForImageClassification"}}};
  auto with = [](json j, const char* k, json v) {
    j[k] = std::move(v);
    return j;
  };
  EXPECT_EQ(error_kind_of(with(vit, "hidden_size", 50)), ErrorKind::kConfig);  // 50 % 12 != 0
  EXPECT_EQ(error_kind_of(with(vit, "hidden_size", "768")), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(vit, "num_hidden_layers", -1)), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(vit, "layer_norm_eps", 0)), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(vit, "qkv_bias", 1)), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(vit, "problem_type", "ranking")), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(vit, "num_channels", 1)), ErrorKind::kUnsupported);
  EXPECT_EQ(error_kind_of(with(vit, "image_size", json::array({224, 160}))),
            ErrorKind::kUnsupported);
  EXPECT_EQ(std::get<VitConfig>(
                ModelConfig::from_json(with(vit, "image_size", json::array({384, 384})), "x").arch)
                .image_size,
            384);
  const json resnet{{"architectures", {"ResNetForImageClassification"}}};
  EXPECT_EQ(error_kind_of(with(resnet, "layer_type", "preactivation")), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(resnet, "depths", json::array({1, 2}))), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(with(resnet, "hidden_sizes", json::array())), ErrorKind::kConfig);
  EXPECT_EQ(error_kind_of(json::array()), ErrorKind::kConfig);
}

TEST(ModelConfig, FromFileErrorsNameThePath) {
  test::TempDir dir;
  const auto path = dir / "config.json";
  std::ofstream(path) << "{ not json";
  try {
    ModelConfig::from_file(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_EQ(e.subject(), path.string());
  }
  try {
    ModelConfig::from_file(dir / "absent.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("absent.json"), std::string::npos);
  }
}

// The files make_checkpoint.py writes (modern and legacy transformers layouts) parse to the
// shapes the preset describes.
TEST(ModelConfig, GeneratedHubStyleConfigs) {
  test::TempDir dir;
  test::run_python("make_checkpoint.py", {"--preset", "resnet-50", "--out", (dir / "r50").string(),
                                          "--legacy-config", "--config-only"});
  const auto r = ModelConfig::from_file(dir / "r50" / "config.json");
  const auto& rc = std::get<ResNetConfig>(r.arch);
  EXPECT_EQ(rc.hidden_sizes, (std::vector<int>{256, 512, 1024, 2048}));
  EXPECT_EQ(rc.depths, (std::vector<int>{3, 4, 6, 3}));
  EXPECT_EQ(r.num_labels(), 1000);
  EXPECT_EQ(r.id2label[0], "tench, Tinca tinca");
  EXPECT_EQ(r.id2label[999], "toilet tissue, toilet paper, bathroom tissue");

  test::run_python("make_checkpoint.py",
                   {"--preset", "tiny-vit", "--out", (dir / "v").string(), "--legacy-config",
                    "--hidden-act", "gelu_pytorch_tanh", "--calib-photos", "0"});
  const auto v = ModelConfig::from_file(dir / "v" / "config.json");
  const auto& vc = std::get<VitConfig>(v.arch);
  EXPECT_EQ(vc.hidden_size, 48);
  EXPECT_EQ(vc.num_attention_heads, 3);
  EXPECT_TRUE(vc.qkv_bias);  // absent in the legacy file -> default
  EXPECT_EQ(vc.hidden_act, Activation::kGeluTanh);
  EXPECT_EQ(v.num_labels(), 10);
}

// CLIPModel: towers from text_config / vision_config with CLIPTextConfig / CLIPVisionConfig
// defaults; the old text_config_dict / vision_config_dict overlay them; eos_token_id 2 selects
// transformers' argmax pooling.
TEST(ModelConfig, ClipNewAndLegacyForms) {
  const auto c = ModelConfig::from_json(json::parse(R"({
    "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 24,
    "text_config": {"hidden_size": 48, "num_attention_heads": 3, "intermediate_size": 96,
                    "num_hidden_layers": 2, "vocab_size": 1000, "eos_token_id": 999},
    "vision_config": {"hidden_size": 60, "num_attention_heads": 5, "patch_size": 32,
                      "hidden_act": "gelu"}})"),
                                        "x");
  ASSERT_TRUE(c.is_clip());
  const auto& clip = std::get<ClipConfig>(c.arch);
  EXPECT_EQ(clip.projection_dim, 24);
  EXPECT_EQ(clip.text.hidden_size, 48);
  EXPECT_EQ(clip.text.max_position_embeddings, 77);
  EXPECT_EQ(clip.text.hidden_act, Activation::kQuickGelu);
  EXPECT_EQ(clip.text.eos_token_id, 999);
  EXPECT_FALSE(clip.text.legacy_eos_pooling());
  EXPECT_EQ(clip.vision.hidden_size, 60);
  EXPECT_EQ(clip.vision.intermediate_size, 3072);
  EXPECT_EQ(clip.vision.image_size, 224);
  EXPECT_EQ(clip.vision.hidden_act, Activation::kGelu);
  EXPECT_DOUBLE_EQ(clip.vision.layer_norm_eps, 1e-5);

  const auto old = ModelConfig::from_json(json::parse(R"({
    "model_type": "clip",
    "text_config": {"hidden_size": 64, "num_attention_heads": 4, "eos_token_id": 2},
    "text_config_dict": {"hidden_size": 32},
    "vision_config": null, "vision_config_dict": {"patch_size": 16}})"),
                                          "x");
  const auto& o = std::get<ClipConfig>(old.arch);
  EXPECT_EQ(old.architecture, "CLIPModel");
  EXPECT_EQ(o.text.hidden_size, 32);
  EXPECT_TRUE(o.text.legacy_eos_pooling());
  EXPECT_EQ(o.vision.patch_size, 16);
  EXPECT_EQ(o.projection_dim, 512);

  std::string message;
  EXPECT_EQ(error_kind_of(json::parse(R"({"architectures": ["CLIPModel"],
    "text_config": {"hidden_size": 50, "num_attention_heads": 3}})"),
                          &message),
            ErrorKind::kConfig);
  EXPECT_NE(message.find("text_config hidden_size 50"), std::string::npos) << message;
}

}  // namespace
}  // namespace binscan

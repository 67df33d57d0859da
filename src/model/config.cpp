#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/json_fields.h"

namespace binscan {

std::optional<Activation> parse_activation(std::string_view name) {
  if (name == "gelu" || name == "gelu_python") return Activation::kGelu;
  // gelu_new / gelu_fast / gelu_accurate write the same tanh formula as PyTorch's
  // gelu(approximate="tanh") with differently rounded constants (differences ~1e-7).
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast" ||
      name == "gelu_accurate")
    return Activation::kGeluTanh;
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  return std::nullopt;
}

std::string_view activation_name(Activation act) {
  switch (act) {
    case Activation::kGelu:
      return "gelu";
    case Activation::kGeluTanh:
      return "gelu_tanh";
    case Activation::kRelu:
      return "relu";
    case Activation::kSilu:
      return "silu";
    case Activation::kQuickGelu:
      return "quick_gelu";
  }
  return "?";
}

namespace {

using nlohmann::json;

// Limits far above any published checkpoint (ViT-22B: 48 layers, hidden 6144; ResNet-152: depths
// [3, 8, 36, 3]), so that a tiny hostile config.json cannot make the loader build millions of
// expected tensor names (and gigabytes) before the first tensor is checked.
constexpr std::int64_t kMaxDimension = 1'000'000;
constexpr std::int64_t kMaxLayers = 1'000;
constexpr std::size_t kMaxStages = 64;

// Field readers: absent or null keeps the default (transformers' behaviour for missing keys);
// a present value of the wrong type or range is an error naming the file and the key.
class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), source_(source) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    json_field_error(source_, key, why);
  }

  const json* find(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  int positive_int(const std::string& key, int def, std::int64_t max = kMaxDimension) const {
    const json* v = find(key);
    return v ? json_positive_int(*v, key, source_, max) : def;
  }

  // image_size / patch_size may be an int or a [height, width] pair; we run square ones.
  int square_size(const std::string& key, int def) const {
    const json* v = find(key);
    if (!v) return def;
    if (v->is_array()) {
      if (v->size() != 2 || !(*v)[0].is_number_integer() || !(*v)[1].is_number_integer())
        fail(key, "must be an integer or a [height, width] pair");
      if ((*v)[0] != (*v)[1])
        throw Error(ErrorKind::kUnsupported, source_,
                    "\"" + key + "\" " + json_excerpt(*v) +
                        " is not square; only square sizes are supported");
      json one = (*v)[0];
      return Reader(json{{key, one}}, source_).positive_int(key, def);
    }
    return positive_int(key, def);
  }

  bool boolean(const std::string& key, bool def) const {
    const json* v = find(key);
    return v ? json_bool(*v, key, source_) : def;
  }

  double positive_double(const std::string& key, double def) const {
    const json* v = find(key);
    if (!v) return def;
    const double x = json_finite_number(*v, key, source_);
    if (!(x > 0)) fail(key, "must be a positive number, got " + json_excerpt(*v));
    return x;
  }

  std::string string(const std::string& key, const std::string& def) const {
    const json* v = find(key);
    return v ? json_string(*v, key, source_) : def;
  }

  std::vector<int> int_list(const std::string& key, const std::vector<int>& def,
                            std::int64_t max = kMaxDimension) const {
    const json* v = find(key);
    if (!v) return def;
    if (!v->is_array() || v->empty()) fail(key, "must be a non-empty list of integers");
    if (v->size() > kMaxStages)
      fail(key, "has " + std::to_string(v->size()) + " entries, more than binscan's limit of " +
                    std::to_string(kMaxStages));
    std::vector<int> out;
    for (const auto& e : *v) {
      if (!e.is_number_integer() || e.get<std::int64_t>() <= 0)
        fail(key, "must be a list of positive integers, got " + json_excerpt(*v));
      if (e.get<std::int64_t>() > max)
        fail(key,
             "holds " + json_excerpt(e) + ", more than binscan's limit of " + std::to_string(max));
      out.push_back(static_cast<int>(e.get<std::int64_t>()));
    }
    return out;
  }

  Activation activation(const std::string& key, Activation def) const {
    const json* v = find(key);
    if (!v) return def;
    if (!v->is_string()) fail(key, "must be an activation name");
    const auto name = v->get<std::string>();
    auto act = parse_activation(name);
    if (!act)
      throw Error(ErrorKind::kUnsupported, source_,
                  "unsupported activation \"" + name + "\" in \"" + key +
                      "\" (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, "
                      "swish, quick_gelu)");
    return *act;
  }

 private:
  const json& j_;
  const std::string& source_;
};

VitConfig parse_vit(const Reader& r, const std::string& source) {
  VitConfig c;
  c.hidden_size = r.positive_int("hidden_size", c.hidden_size);
  c.num_hidden_layers = r.positive_int("num_hidden_layers", c.num_hidden_layers, kMaxLayers);
  c.num_attention_heads = r.positive_int("num_attention_heads", c.num_attention_heads);
  c.intermediate_size = r.positive_int("intermediate_size", c.intermediate_size);
  c.hidden_act = r.activation("hidden_act", c.hidden_act);
  c.layer_norm_eps = r.positive_double("layer_norm_eps", c.layer_norm_eps);
  c.image_size = r.square_size("image_size", c.image_size);
  c.patch_size = r.square_size("patch_size", c.patch_size);
  c.num_channels = r.positive_int("num_channels", c.num_channels);
  c.qkv_bias = r.boolean("qkv_bias", c.qkv_bias);
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error(ErrorKind::kConfig, source,
                "hidden_size " + std::to_string(c.hidden_size) +
                    " is not a multiple of num_attention_heads " +
                    std::to_string(c.num_attention_heads));
  if (c.patch_size > c.image_size)
    throw Error(ErrorKind::kConfig, source,
                "patch_size " + std::to_string(c.patch_size) + " is larger than image_size " +
                    std::to_string(c.image_size));
  return c;
}

ResNetConfig parse_resnet(const Reader& r, const std::string& source) {
  ResNetConfig c;
  c.num_channels = r.positive_int("num_channels", c.num_channels);
  c.embedding_size = r.positive_int("embedding_size", c.embedding_size);
  c.hidden_sizes = r.int_list("hidden_sizes", c.hidden_sizes);
  c.depths = r.int_list("depths", c.depths, kMaxLayers);
  if (std::accumulate(c.depths.begin(), c.depths.end(), std::int64_t{0}) > kMaxLayers)
    r.fail("depths",
           "add up to more than binscan's limit of " + std::to_string(kMaxLayers) + " blocks");
  const auto layer_type = r.string("layer_type", "bottleneck");
  if (layer_type == "basic") {
    c.layer_type = ResNetConfig::LayerType::kBasic;
  } else if (layer_type == "bottleneck") {
    c.layer_type = ResNetConfig::LayerType::kBottleneck;
  } else {
    r.fail("layer_type", "must be \"basic\" or \"bottleneck\", got \"" + layer_type + "\"");
  }
  c.hidden_act = r.activation("hidden_act", c.hidden_act);
  c.downsample_in_first_stage = r.boolean("downsample_in_first_stage", c.downsample_in_first_stage);
  c.downsample_in_bottleneck = r.boolean("downsample_in_bottleneck", c.downsample_in_bottleneck);
  if (c.hidden_sizes.size() != c.depths.size())
    throw Error(ErrorKind::kConfig, source,
                "hidden_sizes has " + std::to_string(c.hidden_sizes.size()) +
                    " stages but depths has " + std::to_string(c.depths.size()));
  if (c.layer_type == ResNetConfig::LayerType::kBottleneck)
    for (int h : c.hidden_sizes)
      if (h < 4)
        throw Error(ErrorKind::kConfig, source,
                    "hidden_sizes entry " + std::to_string(h) +
                        " is too small for a bottleneck (reduction 4)");
  return c;
}

// A tower's config: `key` (text_config / vision_config) with the keys of `key`_dict on top, as
// old CLIPConfig files carry both.
json tower_json(const Reader& r, const std::string& key) {
  json out = json::object();
  for (const std::string& k : {key, key + "_dict"}) {
    const json* v = r.find(k);
    if (!v) continue;
    if (!v->is_object()) r.fail(k, "must be an object");
    for (const auto& [name, value] : v->items()) out[name] = value;
  }
  return out;
}

ClipConfig parse_clip(const Reader& r, const std::string& source) {
  ClipConfig c;
  c.projection_dim = r.positive_int("projection_dim", c.projection_dim);
  const json tj = tower_json(r, "text_config");
  const Reader t(tj, source);
  ClipTextConfig& tc = c.text;
  tc.vocab_size = t.positive_int("vocab_size", tc.vocab_size);
  tc.hidden_size = t.positive_int("hidden_size", tc.hidden_size);
  tc.intermediate_size = t.positive_int("intermediate_size", tc.intermediate_size);
  tc.num_hidden_layers = t.positive_int("num_hidden_layers", tc.num_hidden_layers, kMaxLayers);
  tc.num_attention_heads = t.positive_int("num_attention_heads", tc.num_attention_heads);
  tc.max_position_embeddings =
      t.positive_int("max_position_embeddings", tc.max_position_embeddings, 1'000'000);
  tc.hidden_act = t.activation("hidden_act", tc.hidden_act);
  tc.layer_norm_eps = t.positive_double("layer_norm_eps", tc.layer_norm_eps);
  if (const json* e = t.find("eos_token_id")) {
    if (!e->is_number_integer() || e->get<std::int64_t>() < 0)
      t.fail("eos_token_id", "must be a token id, got " + json_excerpt(*e));
    tc.eos_token_id = e->get<std::int64_t>();
  }
  const json vj = tower_json(r, "vision_config");
  const Reader v(vj, source);
  ClipVisionConfig& vc = c.vision;
  vc.hidden_size = v.positive_int("hidden_size", vc.hidden_size);
  vc.intermediate_size = v.positive_int("intermediate_size", vc.intermediate_size);
  vc.num_hidden_layers = v.positive_int("num_hidden_layers", vc.num_hidden_layers, kMaxLayers);
  vc.num_attention_heads = v.positive_int("num_attention_heads", vc.num_attention_heads);
  vc.num_channels = v.positive_int("num_channels", vc.num_channels);
  vc.image_size = v.square_size("image_size", vc.image_size);
  vc.patch_size = v.square_size("patch_size", vc.patch_size);
  vc.hidden_act = v.activation("hidden_act", vc.hidden_act);
  vc.layer_norm_eps = v.positive_double("layer_norm_eps", vc.layer_norm_eps);
  const auto multiple = [&](const char* tower, int hidden, int heads) {
    if (hidden % heads != 0)
      throw Error(ErrorKind::kConfig, source,
                  std::string(tower) + " hidden_size " + std::to_string(hidden) +
                      " is not a multiple of num_attention_heads " + std::to_string(heads));
  };
  multiple("text_config", tc.hidden_size, tc.num_attention_heads);
  multiple("vision_config", vc.hidden_size, vc.num_attention_heads);
  if (vc.patch_size > vc.image_size)
    throw Error(ErrorKind::kConfig, source,
                "vision_config patch_size " + std::to_string(vc.patch_size) +
                    " is larger than image_size " + std::to_string(vc.image_size));
  return c;
}

// id2label with integer-string keys -> dense vector; without it, num_labels "LABEL_i" entries.
std::vector<std::string> parse_labels(const Reader& r, const std::string& source) {
  std::vector<std::string> labels;
  if (const json* m = r.find("id2label")) {
    if (!m->is_object()) r.fail("id2label", "must be an object mapping class ids to labels");
    const std::size_t n = m->size();
    labels.resize(n);
    std::vector<bool> seen(n, false);
    for (const auto& [key, value] : m->items()) {
      std::size_t id = 0;
      std::size_t used = 0;
      try {
        const long long parsed = std::stoll(key, &used);
        if (used != key.size() || parsed < 0) throw std::invalid_argument("negative");
        id = static_cast<std::size_t>(parsed);
      } catch (const std::exception&) {
        r.fail("id2label", "has key \"" + key + "\" which is not a class id");
      }
      if (id >= n)
        r.fail("id2label", "has class id " + key + " but only " + std::to_string(n) +
                               " labels (ids must be 0.." + std::to_string(n - 1) + ")");
      if (!value.is_string()) r.fail("id2label", "value for \"" + key + "\" must be a string");
      labels[id] = value.get<std::string>();
      seen[id] = true;
    }
    for (std::size_t i = 0; i < n; ++i)
      if (!seen[i]) labels[i] = "LABEL_" + std::to_string(i);  // duplicate keys left a gap
  } else {
    const int n = r.find("num_labels") ? r.positive_int("num_labels", 2) : 2;
    for (int i = 0; i < n; ++i) labels.push_back("LABEL_" + std::to_string(i));
  }
  if (labels.empty())
    throw Error(ErrorKind::kConfig, source, "the model has no labels (id2label is empty)");
  return labels;
}

}  // namespace

ModelConfig ModelConfig::from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(ErrorKind::kConfig, source, "config.json must be a JSON object");
  const Reader r(j, source);
  ModelConfig c;
  c.model_type = r.string("model_type", "");
  if (const json* archs = r.find("architectures")) {
    if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
      r.fail("architectures", "must be a list of class names");
    c.architecture = (*archs)[0].get<std::string>();
  } else if (c.model_type == "vit") {
    c.architecture = "ViTForImageClassification";
  } else if (c.model_type == "resnet") {
    c.architecture = "ResNetForImageClassification";
  } else if (c.model_type == "clip") {
    c.architecture = "CLIPModel";
  } else {
    throw Error(ErrorKind::kUnsupported, source,
                "no \"architectures\" and model_type \"" + c.model_type +
                    "\" is not one binscan runs (vit, resnet, clip)");
  }
  if (c.architecture == "ViTForImageClassification") {
    c.arch = parse_vit(r, source);
    if (c.model_type.empty()) c.model_type = "vit";
  } else if (c.architecture == "ResNetForImageClassification") {
    c.arch = parse_resnet(r, source);
    if (c.model_type.empty()) c.model_type = "resnet";
  } else if (c.architecture == "CLIPModel") {
    c.arch = parse_clip(r, source);
    if (c.model_type.empty()) c.model_type = "clip";
  } else {
    throw Error(ErrorKind::kUnsupported, source,
                "unsupported architecture \"" + c.architecture +
                    "\" (binscan runs ViTForImageClassification, ResNetForImageClassification and "
                    "CLIPModel)");
  }
  const int channels = std::visit(
      [](const auto& a) {
        if constexpr (std::is_same_v<std::decay_t<decltype(a)>, ClipConfig>)
          return a.vision.num_channels;
        else
          return a.num_channels;
      },
      c.arch);
  if (channels != 3)
    throw Error(ErrorKind::kUnsupported, source,
                "num_channels " + std::to_string(channels) + " is not supported (images are RGB)");
  c.id2label = parse_labels(r, source);
  const auto problem = r.string("problem_type", "single_label_classification");
  if (problem == "single_label_classification") {
    c.problem_type = ProblemType::kSingleLabel;
  } else if (problem == "multi_label_classification") {
    c.problem_type = ProblemType::kMultiLabel;
  } else if (problem == "regression") {
    c.problem_type = ProblemType::kRegression;
  } else {
    r.fail("problem_type",
           "must be regression, single_label_classification or multi_label_classification");
  }
  return c;
}

ModelConfig ModelConfig::from_file(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  auto j = parse_json(text, path.string());
  if (j.is_discarded()) throw Error(ErrorKind::kConfig, path.string(), "not valid JSON");
  return from_json(j, path.string());
}

}  // namespace binscan

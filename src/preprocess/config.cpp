// preprocessor_config.json, read the way transformers builds ViTImageProcessor and
// ConvNextImageProcessor from it (image_processing_vit.py, image_processing_convnext.py,
// image_processing_utils.get_size_dict, AutoImageProcessor's class lookup).
#include <cmath>
#include <string>

#include "preprocess/processor.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/json_fields.h"

namespace binscan {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& cause) {
  throw Error(ErrorKind::kConfig, source, cause);
}

bool flag(const json& j, const char* key, bool dflt, const std::string& source) {
  const auto it = j.find(key);
  if (it == j.end()) return dflt;
  // transformers stores None and tests it with `if do_x:` -> off.
  if (it->is_null()) return false;
  return json_bool(*it, key, source);
}

// image_mean / image_std: a number (used for every channel) or a list of three numbers. numpy
// turns them into a float32 array, hence the conversion to float here.
std::array<float, 3> channels(const json& j, const char* key, std::array<float, 3> dflt,
                              const std::string& source) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  std::array<float, 3> out{};
  if (it->is_number() && !it->is_boolean()) {
    out.fill(static_cast<float>(json_finite_number(*it, key, source)));
    return out;
  }
  if (!it->is_array() || it->size() != 3) {
    bad(source,
        std::string("\"") + key + "\" must be a number or a list of 3 numbers, got " +
            (it->is_array() ? "a list of " + std::to_string(it->size()) : json_type_name(*it)));
  }
  for (std::size_t i = 0; i < 3; ++i) {
    out[i] = static_cast<float>(
        json_finite_number((*it)[i], std::string(key) + "[" + std::to_string(i) + "]", source));
  }
  return out;
}

// Which processor class AutoImageProcessor would build. Legacy files name a feature extractor,
// which transformers maps to the image processor of the same name; "...Fast" variants are mapped
// to the PIL-based class (what use_fast=False loads), since we reproduce that one.
std::optional<ProcessorKind> kind_from_class(std::string name, const std::string& source) {
  const std::string fe = "FeatureExtractor";
  if (const auto pos = name.find(fe); pos != std::string::npos) {
    name.replace(pos, fe.size(), "ImageProcessor");
  }
  if (name.size() > 4 && name.ends_with("Fast")) name.resize(name.size() - 4);
  if (name == "ViTImageProcessor") return ProcessorKind::kVit;
  if (name == "ConvNextImageProcessor") return ProcessorKind::kConvNext;
  if (name == "CLIPImageProcessor") return ProcessorKind::kClip;
  throw Error(ErrorKind::kUnsupported, source,
              "image processor '" + name +
                  "' is not supported (binscan reproduces ViTImageProcessor, "
                  "ConvNextImageProcessor and CLIPImageProcessor)");
}

std::optional<ProcessorKind> kind_from_json(const json& j, const std::string& source) {
  for (const char* key : {"image_processor_type", "feature_extractor_type"}) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) {
      bad(source, std::string("\"") + key + "\" must be a string, got " + json_type_name(*it));
    }
    return kind_from_class(it->get<std::string>(), source);
  }
  return std::nullopt;
}

// transformers' IMAGE_PROCESSOR_MAPPING for the model types we support.
std::optional<ProcessorKind> kind_from_model_type(const std::string& model_type) {
  if (model_type == "vit") return ProcessorKind::kVit;
  if (model_type == "clip") return ProcessorKind::kClip;
  if (model_type == "resnet" || model_type == "convnext" || model_type == "convnextv2" ||
      model_type == "regnet" || model_type == "van") {
    return ProcessorKind::kConvNext;
  }
  return std::nullopt;
}

ProcessorConfig parse(const json& j, ProcessorKind kind, const std::string& source) {
  ProcessorConfig c = ProcessorConfig::defaults(kind);
  c.do_resize = flag(j, "do_resize", c.do_resize, source);
  c.do_rescale = flag(j, "do_rescale", c.do_rescale, source);
  c.do_normalize = flag(j, "do_normalize", c.do_normalize, source);

  if (const auto it = j.find("size"); it != j.end() && !it->is_null()) {
    const json& s = *it;
    if (s.is_number_integer() && !s.is_boolean()) {
      // get_size_dict(int): ViT default_to_square=True -> square; ConvNext False -> shortest edge.
      const int n = json_positive_int(s, "size", source);
      c.height = c.width = c.shortest_edge = n;
    } else if (s.is_array()) {
      // get_size_dict((h, w)) -> {"height": h, "width": w}.
      if (s.size() != 2) bad(source, "\"size\" as a list must have 2 elements (height, width)");
      c.height = json_positive_int(s[0], "size[0]", source);
      c.width = json_positive_int(s[1], "size[1]", source);
      if (kind != ProcessorKind::kVit) {
        bad(source, "\"size\" must contain \"shortest_edge\" for " +
                        std::string(kind == ProcessorKind::kClip ? "CLIPImageProcessor"
                                                                 : "ConvNextImageProcessor"));
      }
    } else if (s.is_object()) {
      const bool hw = s.contains("height") && s.contains("width");
      const bool se = s.contains("shortest_edge");
      // is_valid_size_dict: the key set must be one transformers knows.
      const bool valid = (hw && s.size() == 2) || (se && s.size() == 1) ||
                         (se && s.contains("longest_edge") && s.size() == 2) ||
                         (s.contains("longest_edge") && s.size() == 1) ||
                         (s.contains("max_height") && s.contains("max_width") && s.size() == 2);
      if (!valid) bad(source, "\"size\" has an unknown set of keys: " + s.dump());
      if (kind == ProcessorKind::kVit) {
        if (!hw)
          bad(source, "\"size\" must contain \"height\" and \"width\" for ViTImageProcessor");
        c.height = json_positive_int(s["height"], "size.height", source);
        c.width = json_positive_int(s["width"], "size.width", source);
      } else {
        if (!se) {
          bad(source, "\"size\" must contain \"shortest_edge\" for " +
                          std::string(kind == ProcessorKind::kClip ? "CLIPImageProcessor"
                                                                   : "ConvNextImageProcessor"));
        }
        c.shortest_edge = json_positive_int(s["shortest_edge"], "size.shortest_edge", source);
      }
    } else {
      bad(source, "\"size\" must be an integer, a list or an object, got " + json_type_name(s));
    }
  }

  if (kind == ProcessorKind::kClip) {
    // After "size": an integer size sets height/width above, crop_size overrides them here.
    c.height = c.width = 224;
    c.do_center_crop = flag(j, "do_center_crop", c.do_center_crop, source);
    if (const auto it = j.find("crop_size"); it != j.end() && !it->is_null()) {
      // get_size_dict(crop_size, default_to_square=True): an integer is a square.
      const json& cs = *it;
      if (cs.is_number_integer() && !cs.is_boolean()) {
        c.height = c.width = json_positive_int(cs, "crop_size", source);
      } else if (cs.is_object() && cs.contains("height") && cs.contains("width")) {
        c.height = json_positive_int(cs["height"], "crop_size.height", source);
        c.width = json_positive_int(cs["width"], "crop_size.width", source);
      } else {
        bad(source, "\"crop_size\" must be an integer or {\"height\", \"width\"}");
      }
    }
  }

  if (kind == ProcessorKind::kConvNext) {
    if (const auto it = j.find("crop_pct"); it != j.end() && !it->is_null()) {
      c.crop_pct = json_finite_number(*it, "crop_pct", source);
      if (c.crop_pct <= 0) bad(source, "\"crop_pct\" must be positive");
      const double rse = static_cast<double>(c.shortest_edge) / c.crop_pct;
      if (c.shortest_edge < 384 && (rse < 1.0 || rse > 1'000'000)) {
        bad(source, "\"crop_pct\" " + std::to_string(c.crop_pct) +
                        " resizes the shortest edge to " + (rse < 1.0 ? "zero" : "an absurd size"));
      }
    }
  }

  if (const auto it = j.find("resample"); it != j.end()) {
    if (it->is_null()) {
      // resize(resample=None) in image_transforms falls back to bilinear.
      c.resample = Resample::kBilinear;
    } else {
      if (!it->is_number_integer() || it->is_boolean()) {
        bad(source, "\"resample\" must be an integer 0-5, got " + json_type_name(*it));
      }
      const auto r = it->get<std::int64_t>();
      if (r < 0 || r > 5) {
        bad(source,
            "\"resample\" must be 0-5 (nearest, lanczos, bilinear, bicubic, box, "
            "hamming), got " +
                std::to_string(r));
      }
      c.resample = static_cast<Resample>(r);
    }
  }

  if (const auto it = j.find("rescale_factor"); it != j.end()) {
    if (it->is_null()) {
      if (c.do_rescale) bad(source, "\"rescale_factor\" must be set when do_rescale is true");
    } else {
      c.rescale_factor = json_finite_number(*it, "rescale_factor", source);
    }
  }
  c.image_mean = channels(j, "image_mean", c.image_mean, source);
  c.image_std = channels(j, "image_std", c.image_std, source);
  return c;
}

}  // namespace

std::string_view resample_name(Resample filter) {
  switch (filter) {
    case Resample::kNearest:
      return "nearest";
    case Resample::kLanczos:
      return "lanczos";
    case Resample::kBilinear:
      return "bilinear";
    case Resample::kBicubic:
      return "bicubic";
    case Resample::kBox:
      return "box";
    case Resample::kHamming:
      return "hamming";
  }
  return "?";
}

std::string_view processor_kind_name(ProcessorKind kind) {
  switch (kind) {
    case ProcessorKind::kVit:
      return "ViT";
    case ProcessorKind::kConvNext:
      return "ConvNext";
    case ProcessorKind::kClip:
      return "CLIP";
  }
  return "?";
}

ProcessorConfig ProcessorConfig::defaults(ProcessorKind kind) {
  ProcessorConfig c;
  c.kind = kind;
  // Both classes: do_resize/do_rescale/do_normalize True, rescale 1/255, IMAGENET_STANDARD
  // mean/std (0.5).
  if (kind == ProcessorKind::kVit) {
    c.height = c.width = 224;  // size {"height": 224, "width": 224}
    c.shortest_edge = 224;
    c.resample = Resample::kBilinear;
  } else if (kind == ProcessorKind::kClip) {
    // size {"shortest_edge": 224}, crop_size 224 x 224, OPENAI_CLIP_MEAN / OPENAI_CLIP_STD.
    c.shortest_edge = 224;
    c.height = c.width = 224;
    c.resample = Resample::kBicubic;
    c.image_mean = {0.48145466f, 0.4578275f, 0.40821073f};
    c.image_std = {0.26862954f, 0.26130258f, 0.27577711f};
  } else {
    c.shortest_edge = 384;  // size {"shortest_edge": 384}
    c.height = c.width = 384;
    c.crop_pct = 224.0 / 256.0;
    c.resample = Resample::kBicubic;
  }
  return c;
}

ProcessorConfig ProcessorConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) bad(source, "expected a JSON object, got " + json_type_name(json));
  const auto kind = kind_from_json(json, source);
  if (!kind) {
    bad(source, "no \"image_processor_type\" or \"feature_extractor_type\"");
  }
  return parse(json, *kind, source);
}

ProcessorConfig ProcessorConfig::from_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(ErrorKind::kIo, path.string(),
                "no such model directory or preprocessor_config.json");
  }
  const std::filesystem::path file =
      std::filesystem::is_directory(path, ec) ? path / "preprocessor_config.json" : path;
  const std::string source = file.string();
  const std::string text = read_text_file(file);
  if (!json_depth_within(text, kMaxJsonDepth))
    throw Error(ErrorKind::kTooLarge, source,
                "JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...".
    if (const auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    bad(source, "invalid JSON: " + what);
  }
  if (!j.is_object()) bad(source, "expected a JSON object, got " + json_type_name(j));
  auto kind = kind_from_json(j, source);
  if (!kind) {
    // AutoImageProcessor falls back to the model's config.json "model_type".
    const auto config = file.parent_path() / "config.json";
    if (std::filesystem::exists(config, ec)) {
      try {
        const auto cj = parse_json(read_text_file(config), config.string());
        if (cj.is_object() && cj.contains("model_type") && cj["model_type"].is_string()) {
          const auto mt = cj["model_type"].get<std::string>();
          kind = kind_from_model_type(mt);
          if (!kind) {
            throw Error(ErrorKind::kUnsupported, source,
                        "no image processor type, and model_type '" + mt + "' in " +
                            config.string() + " is not a ViT or ResNet/ConvNext model");
          }
        }
      } catch (const json::exception&) {
        // Unreadable config.json: fall through to the error below.
      }
    }
  }
  if (!kind) {
    bad(source,
        "no \"image_processor_type\" or \"feature_extractor_type\" (and no config.json "
        "model_type to infer it from)");
  }
  return parse(j, *kind, source);
}

}  // namespace binscan

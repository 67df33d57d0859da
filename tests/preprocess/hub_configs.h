// The preprocessor_config.json files of the two Hub models, as published, shared by the
// preprocess suite's tests.
#pragma once

#include <nlohmann/json.hpp>

namespace binscan::test {

// google/vit-base-patch16-224
inline const nlohmann::json kVitHub = nlohmann::json::parse(R"({"do_normalize": true,
  "do_resize": true, "feature_extractor_type": "ViTFeatureExtractor",
  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224})");
// microsoft/resnet-50
inline const nlohmann::json kResnetHub = nlohmann::json::parse(R"({"crop_pct": 0.875,
  "do_normalize": true, "do_resize": true, "feature_extractor_type": "ConvNextFeatureExtractor",
  "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "resample": 3,
  "size": 224})");

}  // namespace binscan::test

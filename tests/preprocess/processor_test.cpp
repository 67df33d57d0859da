// ProcessorConfig parsing and ImageProcessor output against a numpy + Pillow rendition of
// transformers' ViTImageProcessor / ConvNextImageProcessor (tests/reference/pil_preprocess.py).
#include "preprocess/processor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "hub_configs.h"
#include "pil_jobs.h"
#include "support/npy.h"
#include "util/error.h"

namespace binscan {
namespace {

using json = nlohmann::json;
using test::first_difference;
using test::PilJobs;
using test::test_image;

using test::kResnetHub;
using test::kVitHub;

// --- parsing ----------------------------------------------------------------------------------

TEST(ProcessorConfig, VitHubFile) {
  const auto c = ProcessorConfig::from_json(kVitHub, "vit.json");
  EXPECT_EQ(c.kind, ProcessorKind::kVit);
  EXPECT_EQ(c.height, 224);
  EXPECT_EQ(c.width, 224);
  EXPECT_EQ(c.resample, Resample::kBilinear);
  EXPECT_TRUE(c.do_resize && c.do_rescale && c.do_normalize);
  EXPECT_DOUBLE_EQ(c.rescale_factor, 1.0 / 255.0);
  EXPECT_EQ(c.image_mean, (std::array<float, 3>{0.5f, 0.5f, 0.5f}));
}

TEST(ProcessorConfig, ResnetHubFile) {
  const auto c = ProcessorConfig::from_json(kResnetHub, "resnet.json");
  EXPECT_EQ(c.kind, ProcessorKind::kConvNext);
  EXPECT_EQ(c.shortest_edge, 224);  // "size": 224 with default_to_square=False
  EXPECT_DOUBLE_EQ(c.crop_pct, 0.875);
  EXPECT_EQ(c.resample, Resample::kBicubic);
  EXPECT_EQ(c.image_mean, (std::array<float, 3>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(c.image_std, (std::array<float, 3>{0.229f, 0.224f, 0.225f}));
}

// openai/clip-vit-base-patch32's preprocessor_config.json (the legacy integer sizes) and the
// modern form; the plan: shortest edge to 224, centre crop 224 x 224.
TEST(ProcessorConfig, ClipHubFileAndModernForm) {
  const auto c = ProcessorConfig::from_json(nlohmann::json::parse(R"({
    "crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224})"),
                                            "clip.json");
  EXPECT_EQ(c.kind, ProcessorKind::kClip);
  EXPECT_EQ(c.shortest_edge, 224);
  EXPECT_EQ(c.height, 224);
  EXPECT_EQ(c.width, 224);
  EXPECT_EQ(c.resample, Resample::kBicubic);
  EXPECT_FLOAT_EQ(c.image_std[2], 0.27577711f);
  const ImageProcessor p(c);
  EXPECT_EQ(p.output_size(640, 480), std::make_pair(224, 224));
  const auto m = ProcessorConfig::from_json(nlohmann::json::parse(R"({
    "image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 336},
    "crop_size": {"height": 300, "width": 320}})"),
                                            "clip.json");
  EXPECT_EQ(m.shortest_edge, 336);
  EXPECT_EQ(ImageProcessor(m).output_size(1000, 500), std::make_pair(300, 320));
  EXPECT_FLOAT_EQ(m.image_mean[0], 0.48145466f);  // OPENAI_CLIP_MEAN by default
  const auto no_crop = ProcessorConfig::from_json(
      nlohmann::json::parse(R"({"image_processor_type": "CLIPImageProcessor",
                                "do_center_crop": false})"),
      "clip.json");
  EXPECT_EQ(ImageProcessor(no_crop).output_size(1000, 500), std::make_pair(224, 448));
}

TEST(ProcessorConfig, ModernFormat) {
  auto c = ProcessorConfig::from_json(json::parse(R"({"image_processor_type": "ViTImageProcessor",
                      "size": {"height": 384, "width": 320}, "rescale_factor": 0.5})"),
                                      "x");
  EXPECT_EQ(c.kind, ProcessorKind::kVit);
  EXPECT_EQ(c.height, 384);
  EXPECT_EQ(c.width, 320);
  EXPECT_DOUBLE_EQ(c.rescale_factor, 0.5);
  c = ProcessorConfig::from_json(json::parse(R"({"image_processor_type": "ConvNextImageProcessor",
                      "size": {"shortest_edge": 288}, "crop_pct": 0.9})"),
                                 "x");
  EXPECT_EQ(c.kind, ProcessorKind::kConvNext);
  EXPECT_EQ(c.shortest_edge, 288);
  EXPECT_DOUBLE_EQ(c.crop_pct, 0.9);
  // Fast processors are read as their PIL-based counterparts.
  c = ProcessorConfig::from_json(
      json::parse(R"({"image_processor_type": "ViTImageProcessorFast"})"), "x");
  EXPECT_EQ(c.kind, ProcessorKind::kVit);
}

TEST(ProcessorConfig, AbsentKeysTakeTransformersDefaults) {
  auto c = ProcessorConfig::from_json(
      json::parse(R"({"image_processor_type": "ViTImageProcessor"})"), "x");
  EXPECT_EQ(c.height, 224);
  EXPECT_EQ(c.width, 224);
  EXPECT_EQ(c.resample, Resample::kBilinear);
  EXPECT_EQ(c.image_std, (std::array<float, 3>{0.5f, 0.5f, 0.5f}));
  c = ProcessorConfig::from_json(
      json::parse(R"({"feature_extractor_type": "ConvNextFeatureExtractor"})"), "x");
  EXPECT_EQ(c.shortest_edge, 384);
  EXPECT_DOUBLE_EQ(c.crop_pct, 224.0 / 256.0);
  EXPECT_EQ(c.resample, Resample::kBicubic);
  EXPECT_EQ(c.image_mean, (std::array<float, 3>{0.5f, 0.5f, 0.5f}));
}

TEST(ProcessorConfig, ScalarMeanAndListSize) {
  const auto c = ProcessorConfig::from_json(
      json::parse(R"({"image_processor_type": "ViTImageProcessor", "size": [100, 150],
                      "image_mean": 0.25, "image_std": 2})"),
      "x");
  EXPECT_EQ(c.height, 100);
  EXPECT_EQ(c.width, 150);
  EXPECT_EQ(c.image_mean, (std::array<float, 3>{0.25f, 0.25f, 0.25f}));
  EXPECT_EQ(c.image_std, (std::array<float, 3>{2.f, 2.f, 2.f}));
}

TEST(ProcessorConfig, ModelTypeFromConfigJsonWhenNoProcessorType) {
  test::TempDir dir;
  std::ofstream(dir / "preprocessor_config.json") << R"({"size": 224, "crop_pct": 0.875})";
  std::ofstream(dir / "config.json") << R"({"model_type": "resnet"})";
  const auto c = ProcessorConfig::from_file(dir.path());
  EXPECT_EQ(c.kind, ProcessorKind::kConvNext);
  EXPECT_EQ(c.shortest_edge, 224);
}

// Every bad file gives one Error whose message names the file.
void expect_error(const std::string& text, ErrorKind kind, const std::string& needle) {
  test::TempDir dir;
  const auto file = dir / "preprocessor_config.json";
  std::ofstream(file) << text;
  try {
    ProcessorConfig::from_file(file);
    ADD_FAILURE() << "no error for " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_EQ(e.subject(), file.string());
    const std::string what = e.what();
    EXPECT_NE(what.find(file.string()), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(ProcessorConfig, BadFilesAreErrorsNamingTheFile) {
  expect_error(R"({"feature_extractor_type": "ViTFeatureExtractor", "size": 224)",
               ErrorKind::kConfig, "invalid JSON");
  expect_error("", ErrorKind::kConfig, "invalid JSON");
  expect_error(R"([1, 2])", ErrorKind::kConfig, "JSON object");
  expect_error(R"({"feature_extractor_type": "ViTFeatureExtractor", "size": -224})",
               ErrorKind::kConfig, "\"size\"");
  expect_error(R"({"feature_extractor_type": "ViTFeatureExtractor", "size": 0})",
               ErrorKind::kConfig, "\"size\"");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "size": {"height": 224}})",
               ErrorKind::kConfig, "\"size\"");
  expect_error(
      R"({"image_processor_type": "ConvNextImageProcessor", "size": {"height": 224, "width": 224}})",
      ErrorKind::kConfig, "shortest_edge");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "size": "224"})",
               ErrorKind::kConfig, "\"size\"");
  expect_error(R"({"feature_extractor_type": "DeiTFeatureExtractor"})", ErrorKind::kUnsupported,
               "DeiTImageProcessor");
  expect_error(R"({"image_processor_type": "BeitImageProcessor"})", ErrorKind::kUnsupported,
               "BeitImageProcessor");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "image_mean": "0.5"})",
               ErrorKind::kConfig, "\"image_mean\"");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "image_mean": [0.5, 0.5]})",
               ErrorKind::kConfig, "\"image_mean\"");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "image_std": [0.5, "a", 0.5]})",
               ErrorKind::kConfig, "\"image_std[1]\"");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "resample": 7})",
               ErrorKind::kConfig, "\"resample\"");
  expect_error(R"({"image_processor_type": "ViTImageProcessor", "do_resize": "yes"})",
               ErrorKind::kConfig, "\"do_resize\"");
  expect_error(R"({"image_processor_type": "ConvNextImageProcessor", "crop_pct": -1})",
               ErrorKind::kConfig, "\"crop_pct\"");
  expect_error(
      R"({"image_processor_type": "ConvNextImageProcessor", "size": 224, "crop_pct": 300})",
      ErrorKind::kConfig, "\"crop_pct\"");
  expect_error(R"({"image_processor_type": 3})", ErrorKind::kConfig, "image_processor_type");
  expect_error(R"({"size": 224})", ErrorKind::kConfig, "image_processor_type");
}

TEST(ProcessorConfig, MissingFileIsAnIoError) {
  test::TempDir dir;
  const auto file = dir / "nope" / "preprocessor_config.json";
  try {
    ProcessorConfig::from_file(file);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos);
  }
  // A model directory without the file names the file it looked for.
  try {
    ProcessorConfig::from_file(dir.path());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("preprocessor_config.json"), std::string::npos);
  }
}

// --- processing vs the numpy/Pillow reference --------------------------------------------------

struct Variant {
  std::string name;
  json config;
};

std::vector<Variant> variants() {
  auto with = [](json base, const json& patch) {
    base.merge_patch(patch);
    return base;
  };
  return {
      {"vit-hub", kVitHub},
      {"resnet-hub", kResnetHub},
      {"vit-modern",
       json::parse(R"({"image_processor_type": "ViTImageProcessor", "size": {"height": 224,
         "width": 224}, "resample": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})")},
      {"convnext-modern",
       json::parse(R"({"image_processor_type": "ConvNextImageProcessor", "size": {"shortest_edge":
         224}, "crop_pct": 0.875, "resample": 3, "image_mean": [0.485, 0.456, 0.406],
         "image_std": [0.229, 0.224, 0.225]})")},
      {"vit-defaults", json::parse(R"({"image_processor_type": "ViTImageProcessor"})")},
      {"convnext-defaults-384",
       json::parse(R"({"feature_extractor_type": "ConvNextFeatureExtractor"})")},
      {"convnext-512", with(kResnetHub, json::parse(R"({"size": {"shortest_edge": 512}})"))},
      {"convnext-288-crop-0.95",
       with(kResnetHub, json::parse(R"({"size": 288, "crop_pct": 0.95})"))},
      {"convnext-crop-pct-above-1-pads", with(kResnetHub, json::parse(R"({"crop_pct": 1.4})"))},
      {"resnet-no-rescale", with(kResnetHub, json::parse(R"({"do_rescale": false})"))},
      {"resnet-no-normalize", with(kResnetHub, json::parse(R"({"do_normalize": false})"))},
      {"vit-neither",
       with(kVitHub, json::parse(R"({"do_rescale": false, "do_normalize": false})"))},
      {"vit-no-resize", with(kVitHub, json::parse(R"({"do_resize": false})"))},
      {"resnet-no-resize", with(kResnetHub, json::parse(R"({"do_resize": false})"))},
      {"vit-nonsquare-lanczos",
       with(kVitHub, json::parse(R"({"size": [96, 160], "resample": 1})"))},
      {"vit-nearest", with(kVitHub, json::parse(R"({"resample": 0})"))},
      {"vit-box", with(kVitHub, json::parse(R"({"resample": 4})"))},
      {"vit-hamming-scalar-mean", with(kVitHub, json::parse(R"({"resample": 5, "image_mean": 0.3,
         "image_std": 0.7, "rescale_factor": 0.00392156862745098})"))},
  };
}

void expect_close(const test::NpyF32& expected, const Tensor& got, const std::string& what) {
  ASSERT_EQ(expected.shape, got.shape) << what;
  ASSERT_EQ(expected.data.size(), got.data.size()) << what;
  double max_diff = 0;
  std::size_t exact = 0;
  for (std::size_t i = 0; i < got.data.size(); ++i) {
    const double d = std::fabs(static_cast<double>(expected.data[i]) - got.data[i]);
    max_diff = std::max(max_diff, d);
    exact += expected.data[i] == got.data[i];
  }
  EXPECT_LE(max_diff, 1e-6) << what;
  // We do the same float operations as numpy, so in practice every value is identical.
  EXPECT_EQ(exact, got.data.size()) << what << ": max difference " << max_diff;
}

TEST(ImageProcessor, PixelValuesMatchReferenceForAllConfigVariants) {
  PilJobs jobs;
  struct Pending {
    std::string what;
    ProcessorConfig config;
    Image src;
    int orientation;
    std::size_t job;
  };
  std::vector<Pending> pending;
  // Landscape, portrait, small (upscaled), odd sizes, and EXIF orientations.
  const struct {
    int w, h, orientation;
  } inputs[] = {{400, 300, 1}, {300, 451, 1}, {97, 61, 1},
                {251, 199, 6}, {150, 220, 3}, {140, 90, 8}};
  unsigned seed = 100;
  for (const auto& v : variants()) {
    const auto file = jobs.dir() / (v.name + ".json");
    std::ofstream(file) << v.config.dump();
    const auto config = ProcessorConfig::from_file(file);
    for (const auto& in : inputs) {
      Image src = test_image(in.w, in.h, seed++);
      const auto job = jobs.add_preprocess_raw(file, src, in.orientation);
      pending.push_back({v.name + " " + std::to_string(in.w) + "x" + std::to_string(in.h) +
                             " orientation " + std::to_string(in.orientation),
                         config, std::move(src), in.orientation, job});
    }
  }
  ASSERT_TRUE(jobs.run());
  for (const auto& p : pending) {
    const ImageProcessor proc(p.config);
    const Image prepared = proc.prepare_oriented(p.src, p.orientation);
    EXPECT_EQ(first_difference(prepared, jobs.image(p.job)), "") << p.what;
    Tensor t({1, 3, prepared.height, prepared.width});
    proc.to_pixel_values(prepared, t.data.data());
    expect_close(test::read_npy_f32(jobs.npy_path(p.job)), t, p.what);
    const auto [oh, ow] = proc.output_size(p.orientation >= 5 ? p.src.height : p.src.width,
                                           p.orientation >= 5 ? p.src.width : p.src.height);
    EXPECT_EQ(oh, prepared.height) << p.what;
    EXPECT_EQ(ow, prepared.width) << p.what;
    if (p.orientation == 1) {
      expect_close(test::read_npy_f32(jobs.npy_path(p.job)), proc.preprocess(p.src), p.what);
    }
  }
}

TEST(ImageProcessor, ResnetCropGeometry) {
  // 4032x3024 -> shortest edge int(224 / 0.875) = 256, long side int(256 * 4032 / 3024) = 341,
  // crop (341 - 224) // 2 = 58 from the left.
  const auto c = ProcessorConfig::from_json(kResnetHub, "x");
  const ImageProcessor proc(c);
  const Image src = test_image(403, 302, 5);
  PrepareInfo info;
  const Image out = proc.prepare_oriented(src, 1, &info);
  EXPECT_EQ(info.resized_width, 341);
  EXPECT_EQ(info.resized_height, 256);
  EXPECT_TRUE(info.cropped);
  EXPECT_EQ(out.width, 224);
  EXPECT_EQ(out.height, 224);
  const Image full = resize_like_pillow(src, 341, 256, Resample::kBicubic);
  for (int y = 0; y < 224; ++y) {
    ASSERT_EQ(std::memcmp(out.row(y), full.row(y + 16) + 3 * 58, 224 * 3), 0) << y;
  }
}

// The photos binscan is about, through Pillow's full pipeline (open, exif_transpose, convert,
// resize, crop, rescale, normalise) versus ours from Pillow's stored pixels + orientation.
TEST(ImageProcessor, FullSizePhotosMatchReference) {
  std::vector<std::filesystem::path> photos;
  for (const auto& p : test::all_photos()) {
    const auto s = p.string();
    if (s.find("20220119_175431") != std::string::npos ||  // EXIF orientation 6
        s.find("PXL_20220119_122416357") != std::string::npos ||
        s.find("270427802") != std::string::npos) {
      photos.push_back(p);
    }
  }
  ASSERT_EQ(photos.size(), 3u);
  PilJobs jobs;
  const auto vit = jobs.dir() / "vit.json";
  const auto resnet = jobs.dir() / "resnet.json";
  std::ofstream(vit) << kVitHub.dump();
  std::ofstream(resnet) << kResnetHub.dump();
  std::vector<std::array<std::size_t, 3>> ids;  // decode, vit, resnet
  for (const auto& p : photos) {
    ids.push_back({jobs.add_decode(p, false), jobs.add_preprocess_file(vit, p),
                   jobs.add_preprocess_file(resnet, p)});
  }
  ASSERT_TRUE(jobs.run());
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const Image stored = jobs.image(ids[i][0]);
    const int orientation = jobs.result(ids[i][0]).at("orientation").get<int>();
    for (int k = 1; k <= 2; ++k) {
      const auto config = ProcessorConfig::from_file(k == 1 ? vit : resnet);
      const ImageProcessor proc(config);
      const Image prepared = proc.prepare_oriented(stored, orientation);
      const std::string what = photos[i].filename().string() + (k == 1 ? " vit" : " resnet");
      EXPECT_EQ(first_difference(prepared, jobs.image(ids[i][k])), "") << what;
      Tensor t({1, 3, prepared.height, prepared.width});
      proc.to_pixel_values(prepared, t.data.data());
      expect_close(test::read_npy_f32(jobs.npy_path(ids[i][k])), t, what);
    }
  }
}

}  // namespace
}  // namespace binscan

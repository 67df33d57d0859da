// `binscan preprocess` end to end: the .npy and the PNG equal transformers' processing (rendered
// with Pillow + numpy by tests/reference/pil_preprocess.py) for real photos, and failures leave
// no output behind.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "image/decode.h"
#include "support/npy.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

std::filesystem::path config_dir(const std::string& name) {
  return test::source_dir() / "models" / "configs" / name;
}
const std::string kVit = "google--vit-base-patch16-224";
const std::string kResnet = "microsoft--resnet-50";

test::CommandResult binscan(const std::vector<std::string>& args) {
  return test::run_binscan(args);
}

std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  return out;
}

struct Reference {
  test::NpyF32 pixel_values;
  std::vector<std::uint8_t> prepared;  // HWC uint8
  int width = 0;
  int height = 0;
};

Reference pillow_reference(const std::filesystem::path& config, const std::filesystem::path& photo,
                           const test::TempDir& dir) {
  const auto jobs = dir / "jobs.json";
  const nlohmann::json j{{"jobs",
                          {{{"op", "preprocess"},
                            {"config", (config / "preprocessor_config.json").string()},
                            {"image", photo.string()},
                            {"npy", (dir / "ref.npy").string()},
                            {"prepared", (dir / "ref.rgb").string()}}}}};
  std::ofstream(jobs) << j.dump();
  const auto r = test::run_python("pil_preprocess.py", {jobs.string()});
  Reference ref;
  if (r.exit_code != 0) return ref;
  const auto result = nlohmann::json::parse(r.out).at(0);
  ref.width = result.at("width");
  ref.height = result.at("height");
  ref.pixel_values = test::read_npy_f32(dir / "ref.npy");
  ref.prepared = read_file(dir / "ref.rgb");
  return ref;
}

void expect_matches_reference(const std::string& model, const std::filesystem::path& photo) {
  test::TempDir out;
  const auto npy = out / "pv.npy";
  const auto png = out / "seen.png";
  const auto r = binscan({"preprocess", "--model", config_dir(model).string(), photo.string(),
                          "--npy", npy.string(), "--png", png.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(photo.string()), std::string::npos) << r.out;
  test::TempDir refdir;
  const Reference ref = pillow_reference(config_dir(model), photo, refdir);
  ASSERT_GT(ref.width, 0);

  const auto got = test::read_npy_f32(npy);
  ASSERT_EQ(got.shape, (std::vector<std::int64_t>{1, 3, ref.height, ref.width}));
  ASSERT_EQ(got.data.size(), ref.pixel_values.data.size());
  double max_diff = 0;
  for (std::size_t i = 0; i < got.data.size(); ++i) {
    max_diff =
        std::max(max_diff, std::fabs(static_cast<double>(got.data[i]) - ref.pixel_values.data[i]));
  }
  EXPECT_LE(max_diff, 1e-6) << model << " " << photo;

  const auto seen = load_image(png);
  EXPECT_EQ(seen.format, ImageFormat::kPng);
  ASSERT_EQ(seen.image.width, ref.width);
  ASSERT_EQ(seen.image.height, ref.height);
  EXPECT_TRUE(seen.image.pixels == ref.prepared) << model << " " << photo;
}

TEST(CliPreprocess, TrashBinPhotoResnetMatchesTransformers) {
  const auto photo = test::photos_dir() / "trash-bin" / "PXL_20220119_105237021.jpg";
  expect_matches_reference(kResnet, photo);
}

TEST(CliPreprocess, TrashBinPhotoVitMatchesTransformers) {
  const auto photo = test::photos_dir() / "trash-bin" / "PXL_20220119_111345124.jpg";
  expect_matches_reference(kVit, photo);
}

// 20220119_175431.jpg is stored 4032x3024 with EXIF orientation 6 (shown upright as 3024x4032).
TEST(CliPreprocess, ExifRotatedBikePhotoMatchesTransformers) {
  const auto photo = test::photos_dir() / "bike" / "20220119_175431.jpg";
  expect_matches_reference(kResnet, photo);
  expect_matches_reference(kVit, photo);
}

TEST(CliPreprocess, SummaryDescribesTheSteps) {
  test::TempDir out;
  const auto photo = test::photos_dir() / "bike" / "20220119_175431.jpg";
  const auto r = binscan({"preprocess", "-m", config_dir(kResnet).string(), photo.string(), "--png",
                          (out / "a.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4032x3024 (EXIF orientation 6: 3024x4032) -> resized 256x341 -> centre "
                       "crop 224x224 (ConvNext, bicubic"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(files_in(out.path()), std::vector<std::string>{"a.png"});
}

// Each failure: non-zero exit, one line on stderr naming the culprit, nothing written.
void expect_failure(const std::vector<std::string>& args, const std::string& named,
                    const test::TempDir& out) {
  const auto r = binscan(args);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(files_in(out.path()).empty()) << r.err;
}

TEST(CliPreprocess, ErrorsLeaveNoOutputFiles) {
  test::TempDir out;
  test::TempDir work;
  const auto photo = test::photos_dir() / "trash-bin" / "PXL_20220119_105237021.jpg";
  const auto npy = (out / "pv.npy").string();
  const auto png = (out / "seen.png").string();

  // Missing model directory / config file.
  const auto missing = (work / "no-such-model").string();
  expect_failure({"preprocess", "--model", missing, photo.string(), "--npy", npy, "--png", png},
                 missing, out);
  // Invalid JSON.
  const auto bad_dir = work / "bad";
  std::filesystem::create_directories(bad_dir);
  std::ofstream(bad_dir / "preprocessor_config.json") << "{\"size\": 224,";
  expect_failure(
      {"preprocess", "--model", bad_dir.string(), photo.string(), "--npy", npy, "--png", png},
      (bad_dir / "preprocessor_config.json").string(), out);
  // Unsupported processor.
  const auto deit = work / "deit";
  std::filesystem::create_directories(deit);
  std::ofstream(deit / "preprocessor_config.json")
      << R"({"feature_extractor_type": "DeiTFeatureExtractor"})";
  expect_failure(
      {"preprocess", "--model", deit.string(), photo.string(), "--npy", npy, "--png", png},
      "DeiTImageProcessor", out);
  // Not an image, empty file, missing image.
  const auto text = work / "notes.jpg";
  std::ofstream(text) << "this is not a JPEG";
  expect_failure({"preprocess", "--model", config_dir(kVit).string(), text.string(), "--npy", npy,
                  "--png", png},
                 text.string(), out);
  const auto empty = work / "empty.png";
  std::ofstream(empty).flush();
  expect_failure({"preprocess", "--model", config_dir(kVit).string(), empty.string(), "--npy", npy,
                  "--png", png},
                 empty.string(), out);
  const auto nothing = (work / "nothing.jpg").string();
  expect_failure(
      {"preprocess", "--model", config_dir(kVit).string(), nothing, "--npy", npy, "--png", png},
      nothing, out);
  // A truncated JPEG.
  const auto bytes = read_file(photo);
  const auto truncated = work / "truncated.jpg";
  {
    std::ofstream f(truncated, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size() / 2));
  }
  expect_failure({"preprocess", "--model", config_dir(kVit).string(), truncated.string(), "--npy",
                  npy, "--png", png},
                 truncated.string(), out);
  // An output directory that does not exist: the other output is not written either.
  const auto bad_png = (out / "missing-dir" / "seen.png").string();
  expect_failure({"preprocess", "--model", config_dir(kVit).string(), photo.string(), "--npy", npy,
                  "--png", bad_png},
                 bad_png, out);
}

TEST(CliPreprocess, NeedsAnOutput) {
  const auto photo = test::photos_dir() / "trash-bin" / "PXL_20220119_105237021.jpg";
  const auto r = binscan({"preprocess", "--model", config_dir(kVit).string(), photo.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--npy"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace binscan

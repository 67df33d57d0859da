// --precision int8 through the binscan program: `binscan calibrate` writes a calibration (default
// place in binscan's cache, or --out FILE), classify / scan / bench use it (or --calibration
// FILE), results record "int8", int8 without one is refused in one line giving the calibrate
// command, a calibration of other weights is refused, and fast picks int8 once calibrated; the
// same for ViT and for CLIP (whose calibration covers the image tower alone). Named
// ClassifyCli* so scripts/test runs them again under ONEDNN_MAX_CPU_ISA=AVX2.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "support/sql_helpers.h"
#include "support/test_support.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

int line_count(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// label -> score of every photo's line of `classify --format jsonl`, in order.
std::vector<std::map<std::string, double>> scores(const std::string& jsonl) {
  std::vector<std::map<std::string, double>> out;
  std::istringstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    auto& m = out.emplace_back();
    const auto j = nlohmann::json::parse(line);  // alive through the loop
    for (const auto& p : j.at("predictions"))
      m[p.at("label").get<std::string>()] = p.at("score").get<double>();
  }
  return out;
}

// The largest score change between two `classify --format jsonl` outputs of `photos` photos (a
// label missing from the second counts as its whole score).
double score_diff(const std::string& fp32, const std::string& int8, std::size_t photos) {
  const auto a = scores(fp32), b = scores(int8);
  EXPECT_EQ(a.size(), photos);
  EXPECT_EQ(b.size(), photos);
  double diff = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    for (const auto& [label, score] : a[i])
      diff = std::max(diff, b[i].count(label) ? std::abs(b[i].at(label) - score) : score);
  return diff;
}

class ClassifyCliInt8 : public testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = int8_unsupported_reason(); !why.empty())
      GTEST_SKIP() << "int8 not tested here: " << why;
    model_ = (tmp_ / "resnet").string();
    test::run_python("make_checkpoint.py", {"--preset", "tiny-resnet-bottleneck", "--calib-photos",
                                            "2", "--out", model_});
    env_ = {"BINSCAN_CACHE=" + (tmp_ / "cache").string()};
  }
  test::TempDir tmp_;
  std::string model_;
  std::vector<std::string> env_;
  const fs::path photos_ = test::photos_dir() / "trash-bin";
  const std::string coco_ = (test::photos_dir() / "coco-000000039769.jpeg").string();
  const std::string bike_ = (test::photos_dir() / "bike" / "20220119_175431.jpg").string();
};

TEST_F(ClassifyCliInt8, CalibrateThenClassifyScanAndBench) {
  // Without a calibration: one line saying how to make one.
  const auto refused =
      test::run_binscan({"classify", "--model", model_, "--precision", "int8", coco_}, env_);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(line_count(refused.err), 1) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("binscan calibrate --model " + model_ + " PHOTOS"));

  const auto cal = test::run_binscan({"calibrate", "--model", model_, photos_.string()}, env_);
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  const fs::path file = cal.out.substr(0, cal.out.find('\n'));
  EXPECT_EQ(file.parent_path(), tmp_ / "cache" / "calibration");
  const auto j = nlohmann::json::parse(std::ifstream(file));
  EXPECT_EQ(j.at("photos").get<int>(), 25);
  EXPECT_EQ(j.at("method"), "max");
  EXPECT_THAT(j.at("model").at("weights").get<std::string>(), testing::StartsWith("sha256:"));
  EXPECT_EQ(j.at("model").at("weights_bytes").get<std::uint64_t>(),
            fs::file_size(fs::path(model_) / "model.safetensors"));
  EXPECT_EQ(j.at("ranges").size(), 25u);  // 7 blocks x 3 convs + 4 shortcuts; not the stem
  for (const auto& [name, range] : j.at("ranges").items())
    EXPECT_GT(range.get<double>(), 0) << name;

  // int8 results close to fp32's (scores within 0.1), recorded as int8.
  const std::vector<std::string> photos{coco_, bike_};
  std::vector<std::string> args{"classify", "--model", model_, "--format",
                                "jsonl",    "--top-k", "10"};
  args.insert(args.end(), photos.begin(), photos.end());
  const auto fp32 = test::run_binscan(args, env_);
  args.insert(args.end(), {"--precision", "int8"});
  const auto int8 = test::run_binscan(args, env_);
  ASSERT_EQ(int8.exit_code, 0) << int8.err;
  EXPECT_EQ(int8.err, "");
  const double diff = score_diff(fp32.out, int8.out, 2);
  EXPECT_LT(diff, 0.1) << int8.out;
  EXPECT_GT(diff, 0) << "int8 gave fp32's very scores: is it used?";

  // fast takes int8 now, and says so.
  const auto fast = test::run_binscan(
      {"classify", "--model", model_, "--precision", "fast", "--format", "jsonl", coco_}, env_);
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  EXPECT_THAT(fast.err, HasSubstr("--precision fast: int8 for"));

  // A scan records the precision; bench reports it.
  const fs::path db = tmp_ / "s.db";
  const auto scan =
      test::run_binscan({"scan", coco_, bike_, "--model", model_, "--precision", "int8", "--db",
                         db.string(), "--quiet", "--bin-label", "class_3"},
                        env_);
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  EXPECT_EQ(test::sql_rows(db, "SELECT DISTINCT precision FROM results"),
            std::vector<std::string>{"int8"});
  const auto bench = test::run_binscan({"bench", "--model", model_, "--precision", "int8",
                                        "--iterations", "1", "--warmup", "0", "--format", "json"},
                                       env_);
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_EQ(nlohmann::json::parse(bench.out).at("precision"), "int8");
}

TEST_F(ClassifyCliInt8, NamedCalibrationFileAndOtherWeights) {
  const fs::path file = tmp_ / "named.json";
  const auto cal = test::run_binscan(
      {"calibrate", "--model", model_, "--out", file.string(), coco_, bike_}, env_);
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(file)).at("photos").get<int>(), 2);
  EXPECT_FALSE(fs::exists(tmp_ / "cache")) << "--out writes only there";
  const auto ok = test::run_binscan(
      {"classify", "--model", model_, "--precision", "int8", "--calibration", file.string(), coco_},
      env_);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;

  // The same shapes, other weights: the calibration is refused, naming both.
  const std::string other = (tmp_ / "other").string();
  test::run_python("make_checkpoint.py",
                   {"--preset", "tiny-resnet-bottleneck", "--seed", "1", "--out", other});
  const auto refused = test::run_binscan(
      {"classify", "--model", other, "--precision", "int8", "--calibration", file.string(), coco_},
      env_);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(line_count(refused.err), 1) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("made for other weights"));
  // fast falls back (bf16 or fp32) and says why.
  const auto fast =
      test::run_binscan({"classify", "--model", other, "--precision", "fast", coco_}, env_);
  EXPECT_EQ(fast.exit_code, 0) << fast.err;
  EXPECT_THAT(fast.err, HasSubstr("not int8: no int8 calibration"));
}

// Calibrates `model` into the cache (its ranges: `layers`, each named with `prefix`), then
// classifies two photos in fp32 and int8 (`extra`: e.g. CLIP's labels): scores within 0.1, not
// the same, and fast picks int8.
void calibrate_and_compare(const std::string& model, const std::vector<std::string>& env,
                           std::size_t layers, const std::string& prefix,
                           const std::vector<std::string>& photos,
                           const std::vector<std::string>& extra) {
  const auto cal = test::run_binscan({"calibrate", "--model", model, photos[0], photos[1]}, env);
  ASSERT_EQ(cal.exit_code, 0) << cal.err;
  const auto j = nlohmann::json::parse(std::ifstream(cal.out.substr(0, cal.out.find('\n'))));
  EXPECT_EQ(j.at("ranges").size(), layers);
  for (const auto& [name, range] : j.at("ranges").items()) {
    EXPECT_THAT(name, testing::StartsWith(prefix));
    EXPECT_GT(range.get<double>(), 0) << name;
  }
  std::vector<std::string> args{"classify", "--model", model, "--format", "jsonl", "--top-k", "10"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), photos.begin(), photos.end());
  const auto fp32 = test::run_binscan(args, env);
  ASSERT_EQ(fp32.exit_code, 0) << fp32.err;
  args.insert(args.end(), {"--precision", "int8"});
  const auto int8 = test::run_binscan(args, env);
  ASSERT_EQ(int8.exit_code, 0) << int8.err;
  EXPECT_EQ(int8.err, "");
  const double diff = score_diff(fp32.out, int8.out, photos.size());
  EXPECT_LT(diff, 0.1) << int8.out;
  EXPECT_GT(diff, 0) << "int8 gave fp32's very scores: is it used?";
  args.back() = "fast";
  const auto fast = test::run_binscan(args, env);
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  EXPECT_THAT(fast.err, HasSubstr("--precision fast: int8 for"));
}

// ViT: qkv, attention output, fc1 and fc2 of layer 0, and the last layer's keys/values (its
// pooled-row layers stay fp32), named by module path.
TEST_F(ClassifyCliInt8, VitCalibrateThenClassify) {
  const std::string vit = (tmp_ / "vit").string();
  test::run_python("make_checkpoint.py", {"--preset", "tiny-vit", "--out", vit});
  calibrate_and_compare(vit, env_, 5, "vit.encoder.layer.", {coco_, bike_}, {});
}

// CLIP: calibrate runs the image tower alone (no labels needed); the text tower stays fp32.
TEST_F(ClassifyCliInt8, ClipCalibratesItsImageTower) {
  const std::string clip = (tmp_ / "clip").string();
  test::run_python("clip_reference.py", {"make", "--preset", "tiny", "--out", clip});
  calibrate_and_compare(clip, env_, 5, "vision_model.encoder.layers.", {coco_, bike_},
                        {"--label", "a public litter bin", "--label", "a street with no bin",
                         "--label", "a bicycle"});
}

}  // namespace
}  // namespace binscan

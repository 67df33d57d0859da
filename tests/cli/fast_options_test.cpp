// --fast-decode and --precision through the binscan program: they run, results record how they
// were made (results.decode_scale, results.precision, and the exports), bf16 is refused with the
// missing CPU feature where oneDNN may not use it, and fast falls back to fp32 there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
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

const fs::path& models_dir() {
  static test::TempDir* dir = [] {
    auto* d = new test::TempDir;  // lives for the whole test program
    for (const auto& [preset, name] :
         {std::pair{"tiny-vit-224", "vit"}, std::pair{"tiny-resnet-bottleneck", "resnet"}}) {
      test::run_python("make_checkpoint.py",
                       {"--preset", preset, "--calib-photos", "2", "--out", (*d / name).string()});
    }
    return d;
  }();
  return dir->path();
}

std::string model(const char* name) { return (models_dir() / name).string(); }

// Stored 4032x3024 with EXIF orientation 6; 960x720; 640x480.
const fs::path kBike = test::photos_dir() / "bike" / "20220119_175431.jpg";
const fs::path kSmallBike =
    test::photos_dir() / "bike" / "271758547_496887881809012_1375450742634622577_n.jpg";
const fs::path kCoco = test::photos_dir() / "coco-000000039769.jpeg";

int line_count(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(FastDecodeCli, ClassifyRunsAndStaysCloseToTheExactScores) {
  const std::vector<std::string> photos{kBike.string(), kSmallBike.string(), kCoco.string()};
  std::vector<std::string> args{"classify", "--model", model("vit"), "--format", "jsonl"};
  args.insert(args.end(), photos.begin(), photos.end());
  const auto exact = test::run_binscan(args);
  args.push_back("--fast-decode");
  const auto fast = test::run_binscan(args);
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  EXPECT_EQ(fast.err, "");
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  ASSERT_EQ(line_count(fast.out), 3);
  std::istringstream a(exact.out), b(fast.out);
  std::string la, lb;
  double worst = 0;
  while (std::getline(a, la) && std::getline(b, lb)) {
    const auto ja = nlohmann::json::parse(la), jb = nlohmann::json::parse(lb);
    EXPECT_EQ(ja.at("image"), jb.at("image"));
    ASSERT_EQ(jb.at("predictions").size(), 5u);
    // The same image, slightly differently resampled: the best score moves little.
    worst = std::max(worst, std::abs(ja["predictions"][0]["score"].get<double>() -
                                     jb["predictions"][0]["score"].get<double>()));
  }
  EXPECT_LT(worst, 0.05);
  EXPECT_NE(exact.out, fast.out) << "--fast-decode changed nothing: was it applied?";
}

// One decode per photo serves both models, so its scale is what the more demanding one accepts:
// ResNet's 256-pixel short side (ViT alone would take 1/2 of the 640x480 photo).
TEST(FastDecodeCli, ScanRecordsTheDecodeScaleAndPrecisionOfEachResult) {
  test::TempDir tmp;
  const fs::path photos = tmp / "photos";
  fs::create_directories(photos);
  for (const fs::path& p : {kBike, kSmallBike, kCoco}) fs::copy_file(p, photos / p.filename());
  const auto scan = [&](const fs::path& db, std::vector<std::string> extra) {
    std::vector<std::string> args{"scan",    photos.string(), "--model", model("vit"),
                                  "--model", model("resnet"), "--db",    db.string(),
                                  "--quiet", "--bin-label",   "class_3"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_binscan(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  const fs::path fast_db = tmp / "fast.db", exact_db = tmp / "exact.db";
  scan(fast_db, {"--fast-decode"});
  scan(exact_db, {});
  const std::string fast_rows =
      "SELECT p.width || 'x' || p.height, r.decode_scale, r.precision FROM results r JOIN photos "
      "p USING (sha256) ORDER BY p.width, r.model_id";
  // Photos as displayed: 640x480 (1/2 would leave a 240 short side: exact), 960x720 (1/2: 360),
  // 3024x4032 (1/8: 378).
  EXPECT_EQ(test::sql_rows(fast_db, fast_rows),
            (std::vector<std::string>{"640x480|1|fp32", "640x480|1|fp32", "960x720|2|fp32",
                                      "960x720|2|fp32", "3024x4032|8|fp32", "3024x4032|8|fp32"}));
  EXPECT_EQ(test::sql_rows(exact_db, fast_rows),
            (std::vector<std::string>{"640x480|1|fp32", "640x480|1|fp32", "960x720|1|fp32",
                                      "960x720|1|fp32", "3024x4032|1|fp32", "3024x4032|1|fp32"}));

  // The exports say it too.
  const auto csv = test::run_binscan({"export", "--db", fast_db.string(), "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out.substr(0, csv.out.find('\n')), HasSubstr(",decode_scale,precision"));
  const auto jsonl = test::run_binscan({"export", "--db", fast_db.string(), "--format", "jsonl"});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  std::vector<int> scales;
  std::istringstream lines(jsonl.out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    scales.push_back(j.at("decode_scale").get<int>());
    EXPECT_EQ(j.at("precision"), "fp32");
  }
  std::sort(scales.begin(), scales.end());
  EXPECT_EQ(scales, (std::vector<int>{1, 1, 2, 2, 8, 8}));
}

// preprocess --fast-decode shows the model's view with the reduced decode, and says so.
TEST(FastDecodeCli, PreprocessShowsTheReducedDecode) {
  test::TempDir tmp;
  const auto r = test::run_binscan({"preprocess", "--model", model("resnet"), kBike.string(),
                                    "--fast-decode", "--npy", (tmp / "x.npy").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("4032x3024 -> decoded at 1/8 (--fast-decode) 504x378 (EXIF "
                        "orientation 6: 378x504) -> resized 256x341 -> centre crop 224x224"));
  const auto exact = test::run_binscan({"preprocess", "--model", model("resnet"), kBike.string(),
                                        "--npy", (tmp / "y.npy").string()});
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_THAT(exact.out, testing::Not(HasSubstr("decoded at")));
}

// ONEDNN_MAX_CPU_ISA=AVX2 is how CI emulates an AVX2-only machine: no bf16 there.
TEST(PrecisionCli, Bf16IsRefusedInOneLineWhereOneDnnCannotRunIt) {
  const std::vector<std::string> avx2{"ONEDNN_MAX_CPU_ISA=AVX2"};
  const auto r = test::run_binscan(
      {"classify", "--model", model("vit"), "--precision", "bf16", kCoco.string()}, avx2);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(line_count(r.err), 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--precision bf16"));
  EXPECT_THAT(r.err, HasSubstr("AVX-512 BF16"));

  // fast falls back to fp32 there and says so; the results are fp32's.
  const auto fast = test::run_binscan({"classify", "--model", model("vit"), "--precision", "fast",
                                       "--format", "jsonl", kCoco.string()},
                                      avx2);
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  EXPECT_THAT(fast.err, HasSubstr("--precision fast: fp32"));
  const auto fp32 = test::run_binscan(
      {"classify", "--model", model("vit"), "--format", "jsonl", kCoco.string()}, avx2);
  EXPECT_EQ(fast.out, fp32.out);
}

TEST(PrecisionCli, Bf16ScanRecordsItsPrecision) {
  if (const std::string why = bf16_unsupported_reason(); !why.empty())
    GTEST_SKIP() << "bf16 not tested here: " << why;
  test::TempDir tmp;
  const fs::path db = tmp / "s.db";
  const auto r =
      test::run_binscan({"scan", kCoco.string(), kSmallBike.string(), "--model", model("vit"),
                         "--model", model("resnet"), "--precision", "fast", "--fast-decode", "--db",
                         db.string(), "--quiet", "--bin-label", "class_3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--precision fast: bf16"));
  EXPECT_EQ(test::sql_rows(db, "SELECT DISTINCT precision FROM results"),
            std::vector<std::string>{"bf16"});
  const auto bench = test::run_binscan({"bench", "--model", model("resnet"), "--precision", "bf16",
                                        "--iterations", "1", "--warmup", "0", "--format", "json"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_EQ(nlohmann::json::parse(bench.out).at("precision"), "bf16");
}

}  // namespace
}  // namespace binscan

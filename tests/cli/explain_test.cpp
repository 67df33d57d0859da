// binscan explain: the occlusion map against one computed independently (Pillow/numpy
// preprocessing and the PyTorch mirror of the model, tests/reference/occlusion_reference.py), the
// view's place in the photo through the EXIF orientation, the PNG, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "image/decode.h"
#include "image/encode.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class ExplainCli : public ::testing::TestWithParam<std::tuple<const char*, const char*, int, int>> {
};

TEST_P(ExplainCli, MapEqualsTheIndependentReference) {
  const auto [preset, photo_rel, patch, stride] = GetParam();
  test::TempDir dir;
  const auto model = dir / "m";
  test::run_python("make_checkpoint.py", {"--preset", preset, "--out", model.string()});
  const std::string photo = (test::photos_dir() / photo_rel).string();
  const auto png = dir / "why.png";
  const auto r = test::run_binscan({"explain", "-m", model.string(), photo, "--label", "3",
                                    "--patch", std::to_string(patch), "--stride",
                                    std::to_string(stride), "--json", "--png", png.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json got = json::parse(r.out);
  const auto ref =
      test::run_python("occlusion_reference.py",
                       {"--model", model.string(), "--image", photo, "--label", "3", "--patch",
                        std::to_string(patch), "--stride", std::to_string(stride)});
  const json want = json::parse(ref.out);
  EXPECT_EQ(got["class_id"], 3);
  EXPECT_NEAR(got["score"].get<double>(), want["score"].get<double>(), 2e-5);
  ASSERT_EQ(got["xs"], want["xs"]);
  ASSERT_EQ(got["ys"], want["ys"]);
  // Probabilities of float32 models: the engine is within 1e-4 of PyTorch in logits.
  double worst = 0, best_ref = -1e9;
  std::size_t best_r = 0, best_c = 0;
  for (std::size_t row = 0; row < want["drops"].size(); ++row) {
    for (std::size_t c = 0; c < want["drops"][row].size(); ++c) {
      const double w = want["drops"][row][c].get<double>();
      worst = std::max(worst, std::fabs(got["drops"][row][c].get<double>() - w));
      if (w > best_ref) {
        best_ref = w;
        best_r = row;
        best_c = c;
      }
    }
  }
  EXPECT_LT(worst, 2e-5) << "largest difference of a drop";
  // The peak: where the reference's largest drop is (up to ties within the tolerance).
  EXPECT_NEAR(got["peak"]["drop"].get<double>(), best_ref, 2e-5);
  const auto& v = got["view_in_photo"];
  for (const char* k : {"scale_x", "scale_y", "offset_x", "offset_y"}) {
    EXPECT_NEAR(v[k].get<double>(), want["view_in_photo"][k].get<double>(), 1e-9) << k;
  }
  const double vx = got["xs"][best_c].get<double>() + patch / 2.0;
  const double vy = got["ys"][best_r].get<double>() + patch / 2.0;
  if (std::fabs(got["peak"]["drop"].get<double>() - best_ref) < 1e-9) {
    EXPECT_NEAR(got["peak"]["photo_x"].get<double>(),
                (vx + v["offset_x"].get<double>()) * v["scale_x"].get<double>(), 1e-6);
    EXPECT_NEAR(got["peak"]["photo_y"].get<double>(),
                (vy + v["offset_y"].get<double>()) * v["scale_y"].get<double>(), 1e-6);
  }
  // The photo as displayed (EXIF orientation applied): its size, and the PNG at most 800 wide.
  const DecodedImage shown = load_image(photo);
  EXPECT_EQ(v["photo_width"], shown.image.width);
  EXPECT_EQ(v["photo_height"], shown.image.height);
  const DecodedImage overlay = load_image(png);
  EXPECT_LE(std::max(overlay.image.width, overlay.image.height), 800);
  EXPECT_NEAR(static_cast<double>(overlay.image.width) / overlay.image.height,
              static_cast<double>(shown.image.width) / shown.image.height, 0.01);
}

INSTANTIATE_TEST_SUITE_P(
    Models, ExplainCli,
    ::testing::Values(
        // ResNet's processor: shortest edge 256 then a centre crop; a photo turned by EXIF.
        std::make_tuple("tiny-resnet-basic", "bike/20220119_175431.jpg", 32, 24),
        // ViT's: the whole photo squeezed to the input size.
        std::make_tuple("tiny-vit", "trash-bin/PXL_20220119_105237021.jpg", 16, 8)));

// The map of the best tile (--tiles) equals the reference's map of that crop, placed in the
// photo: the peak in photo pixels is (view + offset) * scale + the tile's corner.
TEST(ExplainCliTiles, TheBestTilesMapEqualsTheReferenceOnTheCrop) {
  test::TempDir dir;
  const auto model = dir / "m";
  test::run_python("make_checkpoint.py", {"--preset", "tiny-vit", "--out", model.string()});
  const std::string photo = (test::photos_dir() / "bike" / "20220119_175431.jpg").string();
  const auto r = test::run_binscan({"explain", "-m", model.string(), photo, "--label", "3",
                                    "--patch", "16", "--stride", "16", "--tiles", "2x2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json got = json::parse(r.out);
  const auto& region = got["region"];
  // The tile is the one `classify --tiles` finds best for the same label.
  const auto cls = test::run_binscan({"classify", "-m", model.string(), "--format", "jsonl",
                                      "--tiles", "2x2", "--bin-label", "3", photo});
  ASSERT_EQ(cls.exit_code, 0) << cls.err;
  const json best = json::parse(cls.out)["tiles"]["best"]["box"];
  EXPECT_EQ(region, best);
  const std::string crop = std::to_string(region["x"].get<int>()) + "," +
                           std::to_string(region["y"].get<int>()) + "," +
                           std::to_string(region["width"].get<int>()) + "," +
                           std::to_string(region["height"].get<int>());
  const json want =
      json::parse(test::run_python("occlusion_reference.py",
                                   {"--model", model.string(), "--image", photo, "--label", "3",
                                    "--patch", "16", "--stride", "16", "--crop", crop})
                      .out);
  EXPECT_NEAR(got["score"].get<double>(), want["score"].get<double>(), 2e-5);
  ASSERT_EQ(got["xs"], want["xs"]);
  ASSERT_EQ(got["ys"], want["ys"]);
  double worst = 0;
  for (std::size_t row = 0; row < want["drops"].size(); ++row) {
    for (std::size_t c = 0; c < want["drops"][row].size(); ++c) {
      worst = std::max(worst, std::fabs(got["drops"][row][c].get<double>() -
                                        want["drops"][row][c].get<double>()));
    }
  }
  EXPECT_LT(worst, 2e-5);
  const auto& v = got["view_in_photo"];
  for (const char* k : {"scale_x", "scale_y", "offset_x", "offset_y", "origin_x", "origin_y"}) {
    EXPECT_NEAR(v[k].get<double>(), want["view_in_photo"][k].get<double>(), 1e-9) << k;
  }
  EXPECT_NEAR(got["peak"]["photo_x"].get<double>(),
              (got["peak"]["view_x"].get<double>() + v["offset_x"].get<double>()) *
                      v["scale_x"].get<double>() +
                  region["x"].get<double>(),
              1e-6);
  EXPECT_NEAR(got["peak"]["photo_y"].get<double>(),
              (got["peak"]["view_y"].get<double>() + v["offset_y"].get<double>()) *
                      v["scale_y"].get<double>() +
                  region["y"].get<double>(),
              1e-6);
}

// A grey picture with one red square, and a ResNet whose only evidence for class 3 is red
// (make_checkpoint.py --red-evidence): the map must peak on the square. Off to the side, the
// square is cut off by ResNet's centre crop, so the whole photo shows nothing, and the best tile
// finds it.
Image grey_with_red_square(int w, int h, int x0, int y0, int side) {
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = img.row(y) + 3 * x;
      const bool red = x >= x0 && x < x0 + side && y >= y0 && y < y0 + side;
      p[0] = red ? 220 : 128;
      p[1] = red ? 20 : 128;
      p[2] = red ? 20 : 128;
    }
  }
  return img;
}

TEST(ExplainCliEvidence, ThePeakIsWhereThePlantedEvidenceIs) {
  test::TempDir dir;
  const auto model = dir / "red";
  test::run_python("make_checkpoint.py",
                   {"--preset", "tiny-resnet-basic", "--out", model.string(), "--red-evidence"});
  const auto explain = [&](const fs::path& photo, std::vector<std::string> extra) {
    std::vector<std::string> args = {"explain",  "-m", model.string(), photo.string(),
                                     "--label",  "3",  "--patch",      "16",
                                     "--stride", "8",  "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_binscan(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  // A 30-pixel square right of centre, inside the model's view. The peak patch covers part of
  // the square: its centre lies within half a patch (16 view pixels, 15 photo pixels) of it.
  const fs::path inside = dir / "inside.png";
  write_png(inside, grey_with_red_square(320, 240, 180, 80, 30));
  json m = explain(inside, {});
  EXPECT_GT(m["peak"]["drop"].get<double>(), 0.1);
  EXPECT_GE(m["peak"]["photo_x"].get<double>(), 180 - 8.0);
  EXPECT_LE(m["peak"]["photo_x"].get<double>(), 210 + 8.0);
  EXPECT_GE(m["peak"]["photo_y"].get<double>(), 80 - 8.0);
  EXPECT_LE(m["peak"]["photo_y"].get<double>(), 110 + 8.0);

  // Outside the centre crop (a 640x240 photo keeps x 215..425): the whole view has no evidence.
  const fs::path aside = dir / "aside.png";
  write_png(aside, grey_with_red_square(640, 240, 440, 100, 40));
  m = explain(aside, {});
  EXPECT_NEAR(m["score"].get<double>(), 0.1, 1e-6);  // 10 labels, no evidence: uniform
  EXPECT_LT(m["peak"]["drop"].get<double>(), 1e-6);
  m = explain(aside, {"--tiles", "2x1"});
  EXPECT_EQ(m["region"]["x"], 274);  // the right tile
  EXPECT_GT(m["score"].get<double>(), 0.9);
  EXPECT_GE(m["peak"]["photo_x"].get<double>(), 440 - 8.0);
  EXPECT_LE(m["peak"]["photo_x"].get<double>(), 480 + 8.0);
  EXPECT_GE(m["peak"]["photo_y"].get<double>(), 100 - 8.0);
  EXPECT_LE(m["peak"]["photo_y"].get<double>(), 140 + 8.0);
}

TEST(ExplainCliErrors, BadInputIsOneLine) {
  test::TempDir dir;
  test::run_python("make_checkpoint.py", {"--preset", "tiny-vit", "--out", (dir / "m").string()});
  std::ofstream(dir / "x.jpg") << "not a photo";
  auto r = test::run_binscan({"explain", "-m", (dir / "m").string(), (dir / "x.jpg").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("x.jpg"), std::string::npos) << r.err;
  r = test::run_binscan({"explain", "-m", (dir / "m").string(),
                         (test::photos_dir() / "coco-000000039769.jpeg").string(), "--label",
                         "no such label"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no such label"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace binscan

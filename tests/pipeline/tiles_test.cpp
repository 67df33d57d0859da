// --tiles: the grid's boxes checked against formulas written out independently, and each tile's
// pixel_values against Pillow cropping the oriented photo to that box and running the model's
// processor on the crop (tests/reference/pil_preprocess.py), for ViT and ResNet processors,
// through the EXIF orientation.
#include "pipeline/tiles.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "classify/local_classifier.h"
#include "model/checkpoint.h"
#include "pipeline/photo.h"
#include "preprocess/pil_jobs.h"
#include "support/npy.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

TEST(TileGrid, ParsesGridsAutoAndNone) {
  EXPECT_FALSE(TileGrid::parse("none").enabled());
  EXPECT_FALSE(TileGrid::parse("").enabled());
  EXPECT_FALSE(TileGrid::parse("1x1").enabled());
  const TileGrid g = TileGrid::parse("3x2");
  EXPECT_EQ(g.kind, TileGrid::Kind::kGrid);
  EXPECT_EQ(g.cols, 3);
  EXPECT_EQ(g.rows, 2);
  EXPECT_EQ(g.spec(), "3x2");
  EXPECT_EQ(TileGrid::parse("auto").kind, TileGrid::Kind::kAuto);
  EXPECT_EQ(TileGrid::parse("auto").spec(), "auto");
  for (const char* bad : {"3", "x2", "3x", "0x2", "17x1", "2x2x2", "axb", "-1x2", "2 x2"}) {
    EXPECT_THROW(TileGrid::parse(bad), Error) << bad;
  }
}

// Boxes for n tiles of equal length L along a side S overlapping by a quarter: L = S / (n - (n-1)
// / 4), the first at 0, the last flush with the far edge, evenly spaced.
TEST(TileGrid, BoxesOverlapByAQuarterAndCoverThePhoto) {
  const auto boxes = tile_boxes(TileGrid::parse("2x2"), 1000, 800, 224);
  ASSERT_EQ(boxes.size(), 4u);
  // 1000 / 1.75 = 571.4, 800 / 1.75 = 457.1
  EXPECT_EQ(boxes[0], (TileBox{0, 0, 571, 457}));
  EXPECT_EQ(boxes[1], (TileBox{429, 0, 571, 457}));
  EXPECT_EQ(boxes[2], (TileBox{0, 343, 571, 457}));
  EXPECT_EQ(boxes[3], (TileBox{429, 343, 571, 457}));

  for (const auto& [cols, rows, w, h] : std::vector<std::array<int, 4>>{
           {3, 3, 4032, 3024}, {3, 2, 3024, 4032}, {5, 1, 640, 480}, {2, 3, 7, 9}}) {
    const TileGrid grid = TileGrid::parse(std::to_string(cols) + "x" + std::to_string(rows));
    const auto b = tile_boxes(grid, w, h, 224);
    ASSERT_EQ(b.size(), static_cast<std::size_t>(cols * rows));
    std::vector<int> covered(static_cast<std::size_t>(w) * h, 0);
    for (const TileBox& t : b) {
      EXPECT_GE(t.x, 0);
      EXPECT_GE(t.y, 0);
      EXPECT_LE(t.x + t.width, w);
      EXPECT_LE(t.y + t.height, h);
      EXPECT_EQ(t.width, b[0].width);
      EXPECT_EQ(t.height, b[0].height);
      for (int y = t.y; y < t.y + t.height; ++y)
        for (int x = t.x; x < t.x + t.width; ++x) ++covered[static_cast<std::size_t>(y) * w + x];
    }
    for (const int c : covered) ASSERT_GE(c, 1) << cols << "x" << rows << " leaves a gap";
    const double expected_w = w / (cols - (cols - 1) * 0.25);
    EXPECT_NEAR(b[0].width, expected_w, 0.5 + 1e-9);
    // Neighbours overlap by about a quarter of a tile.
    if (cols > 1 && w > 100) {
      const double overlap = b[0].x + b[0].width - b[1].x;
      EXPECT_NEAR(overlap / b[0].width, 0.25, 0.01);
    }
  }
}

TEST(TileGrid, AutoGivesTilesAboutHalfTheShortSideAndNeverSmallerThanTwiceTheInput) {
  const TileGrid a = TileGrid::parse("auto");
  // A 12 MP photo: half the short side is 1512 -> 3 across, 2 down.
  EXPECT_EQ(tile_layout(a, 4032, 3024, 224), (std::pair{3, 2}));
  EXPECT_EQ(tile_layout(a, 3024, 4032, 224), (std::pair{2, 3}));
  // A small photo: tiles at least 448 wide.
  EXPECT_EQ(tile_layout(a, 1000, 750, 224), (std::pair{3, 2}));
  EXPECT_EQ(tile_layout(a, 448, 448, 224), (std::pair{1, 1}));
  EXPECT_TRUE(tile_boxes(a, 448, 448, 224).empty());
  // A panorama is capped.
  EXPECT_EQ(tile_layout(a, 40000, 1000, 224).first, kMaxAutoTilesPerSide);
}

std::unique_ptr<LocalClassifier> tiny_model(const test::TempDir& dir, const std::string& preset) {
  const fs::path out = dir / preset;
  const auto r =
      test::run_python("make_checkpoint.py", {"--preset", preset, "--out", out.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return std::make_unique<LocalClassifier>(Checkpoint::load(out), LocalOptions{});
}

// Every tile's pixel_values equal Pillow's crop of the photo as displayed, run through the
// model's processor; the whole photo's input is unchanged by tiling.
TEST(TiledPreparation, EveryTileEqualsPillowCroppingThePhotoAndTheProcessor) {
  test::TempDir dir;
  const auto vit = tiny_model(dir, "tiny-vit-224");
  const auto resnet = tiny_model(dir, "tiny-resnet-basic");
  const fs::path rotated = test::photos_dir() / "bike" / "20220119_175431.jpg";  // orientation 6
  const fs::path bin = test::all_photos().front();
  const Classifier* models[] = {vit.get(), resnet.get()};
  const fs::path configs[] = {dir / "tiny-vit-224" / "preprocessor_config.json",
                              dir / "tiny-resnet-basic" / "preprocessor_config.json"};
  for (const auto& [photo, grid] :
       std::vector<std::pair<fs::path, std::string>>{{rotated, "2x2"}, {bin, "3x2"}}) {
    const auto bytes = read_file(photo);
    const PreparedPhoto tiled =
        prepare_photo(bytes, photo.string(), models,
                      PrepareOptions{.fast_decode = false, .tiles = TileGrid::parse(grid)});
    const PreparedPhoto whole = prepare_photo(bytes, photo.string(), models);
    ASSERT_FALSE(tiled.error);
    test::PilJobs jobs;
    std::vector<std::vector<std::size_t>> ids(2);
    for (std::size_t m = 0; m < 2; ++m) {
      const ModelInput& in = tiled.models[m];
      ASSERT_TRUE(in.input);
      EXPECT_EQ(in.input->pixel_values, whole.models[m].input->pixel_values);
      ASSERT_EQ(in.tiles.size(), grid == "2x2" ? 4u : 6u);
      EXPECT_EQ(layout_spec(in.tile_cols, in.tile_rows), grid);
      for (const TileInput& t : in.tiles) {
        ASSERT_TRUE(t.input) << (t.error ? t.error->what() : "");
        const auto i = jobs.add_preprocess_file(configs[m], photo);
        jobs.set(i, "crop", {t.box.x, t.box.y, t.box.width, t.box.height});
        ids[m].push_back(i);
      }
    }
    ASSERT_TRUE(jobs.run());
    for (std::size_t m = 0; m < 2; ++m) {
      const ModelInput& in = tiled.models[m];
      for (std::size_t k = 0; k < in.tiles.size(); ++k) {
        const TileInput& t = in.tiles[k];
        // Inside the photo as displayed (3024x4032 for the rotated bike).
        EXPECT_LE(t.box.x + t.box.width, tiled.decoded->display_width());
        EXPECT_LE(t.box.y + t.box.height, tiled.decoded->display_height());
        const test::NpyF32 want = test::read_npy_f32(jobs.npy_path(ids[m][k]));
        ASSERT_EQ(want.data.size(), t.input->pixel_values.size());
        double worst = 0;
        for (std::size_t j = 0; j < want.data.size(); ++j) {
          worst = std::max(worst,
                           static_cast<double>(std::fabs(want.data[j] - t.input->pixel_values[j])));
        }
        EXPECT_LE(worst, 1e-6) << photo << " model " << m << " tile " << k;
      }
    }
  }
}

TEST(TiledPreparation, FastDecodeDoesNotApplyToTiles) {
  test::TempDir dir;
  const auto vit = tiny_model(dir, "tiny-vit-224");
  const Classifier* models[] = {vit.get()};
  const fs::path photo = test::photos_dir() / "bike" / "20220119_175431.jpg";
  const auto bytes = read_file(photo);
  const PreparedPhoto p =
      prepare_photo(bytes, photo.string(), models,
                    PrepareOptions{.fast_decode = true, .tiles = TileGrid::parse("2x2")});
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.decoded->scale_denominator, 1);
  EXPECT_EQ(p.models[0].input->decode_scale, 1);
}

}  // namespace
}  // namespace binscan

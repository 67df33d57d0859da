// --tiles end to end: a tiled scan stores, per photo and model, the layout and a best tile that
// lies inside the photo as displayed; the stored bin score is the better of the photo's and the
// tile's; and the tile's stored numbers equal `binscan classify` on that crop saved by Pillow
// (tests/reference/pil_preprocess.py), so a user can check any tile by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/sql_helpers.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<std::string> split(const std::string& row) {
  std::vector<std::string> out;
  std::stringstream in(row);
  std::string cell;
  while (std::getline(in, cell, '|')) out.push_back(cell);
  if (!row.empty() && row.back() == '|') out.emplace_back();
  return out;
}

fs::path tiny_checkpoint(const test::TempDir& dir, const std::string& preset) {
  const fs::path model = dir / "m";
  EXPECT_EQ(test::run_python("make_checkpoint.py", {"--preset", preset, "--out", model.string()})
                .exit_code,
            0);
  return model;
}

TEST(TilesCli, ScanStoresBestTilesThatEqualClassifyingTheCrop) {
  test::TempDir dir;
  const fs::path model = tiny_checkpoint(dir, "tiny-vit-224");
  const auto photos = test::all_photos();
  ASSERT_GE(photos.size(), 3u);
  // Two street photos and the bike stored sideways (EXIF orientation 6).
  const std::vector<fs::path> inputs = {photos[0], photos[1],
                                        test::photos_dir() / "bike" / "20220119_175431.jpg"};
  const fs::path db = dir / "s.db";
  std::vector<std::string> args = {"scan",         "-q",          "--db", db.string(), "-m",
                                   model.string(), "--bin-label", "3",    "--tiles",   "2x2"};
  for (const auto& p : inputs) args.push_back(p.string());
  const auto scan = test::run_binscan(args);
  ASSERT_EQ(scan.exit_code, 0) << scan.err;

  const auto rows = test::sql_rows(
      db,
      "SELECT p.path, p.width, p.height, r.tile_grid, r.tile_x, r.tile_y, r.tile_width, "
      "r.tile_height, r.bin_score, r.photo_bin_score, r.tile_bin_score, r.tile_top_k, r.verdict "
      "FROM results r JOIN photos p USING (sha256) ORDER BY p.path");
  ASSERT_EQ(rows.size(), inputs.size());
  const std::string label3 =
      json::parse(read_text_file(model / "config.json"))["id2label"]["3"].get<std::string>();
  for (const auto& row : rows) {
    const auto c = split(row);
    ASSERT_EQ(c.size(), 13u) << row;
    const std::string path = c[0];
    const int w = std::stoi(c[1]), h = std::stoi(c[2]);
    EXPECT_EQ(c[3], "2x2");
    const int x = std::stoi(c[4]), y = std::stoi(c[5]), tw = std::stoi(c[6]), th = std::stoi(c[7]);
    EXPECT_GE(x, 0);
    EXPECT_GE(y, 0);
    EXPECT_LE(x + tw, w) << path;
    EXPECT_LE(y + th, h) << path;
    EXPECT_GT(tw, w / 2);
    const double bin = std::stod(c[8]), photo_bin = std::stod(c[9]), tile_bin = std::stod(c[10]);
    EXPECT_DOUBLE_EQ(bin, std::max(photo_bin, tile_bin)) << path;

    // The same box cut by Pillow from the photo as displayed, classified on its own.
    const fs::path crop = dir / (fs::path(path).stem().string() + "-tile.png");
    const fs::path jobs = dir / "jobs.json";
    write_file_atomically(
        jobs,
        json{{"jobs",
              {{{"op", "crop"}, {"image", path}, {"box", {x, y, tw, th}}, {"out", crop.string()}}}}}
            .dump());
    ASSERT_EQ(test::run_python("pil_preprocess.py", {jobs.string()}).exit_code, 0);
    const auto cls = test::run_binscan(
        {"classify", "-m", model.string(), "--format", "jsonl", "--top-k", "10", crop.string()});
    ASSERT_EQ(cls.exit_code, 0) << cls.err;
    const json got = json::parse(cls.out);
    double crop_bin = -1;
    for (const auto& p : got["predictions"]) {
      if (p["label"] == label3) crop_bin = p["score"].get<double>();
    }
    EXPECT_NEAR(crop_bin, tile_bin, 1e-6) << path;
    const json stored_top = json::parse(c[11]);
    ASSERT_EQ(stored_top.size(), 5u);
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(stored_top[k]["label"], got["predictions"][k]["label"]) << path << " rank " << k;
      EXPECT_NEAR(stored_top[k]["score"].get<double>(),
                  got["predictions"][k]["score"].get<double>(), 1e-6);
    }
  }

  // classify --tiles says the same as the survey for each photo.
  for (const auto& p : inputs) {
    const auto r = test::run_binscan({"classify", "-m", model.string(), "--format", "jsonl",
                                      "--bin-label", "3", "--tiles", "2x2", p.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json line = json::parse(r.out);
    const auto stored = split(test::sql_rows(db,
                                             "SELECT r.bin_score, r.tile_x, r.tile_y FROM "
                                             "results r JOIN photos ph USING (sha256) "
                                             "WHERE ph.path LIKE '%/" +
                                                 p.filename().string() + "'")
                                  .at(0));
    EXPECT_NEAR(line["tiles"]["bin_score"].get<double>(), std::stod(stored[0]), 1e-6);
    EXPECT_EQ(line["tiles"]["best"]["box"]["x"].get<int>(), std::stoi(stored[1]));
    EXPECT_EQ(line["tiles"]["best"]["box"]["y"].get<int>(), std::stoi(stored[2]));
    EXPECT_EQ(line["tiles"]["layout"], "2x2");
    EXPECT_EQ(line["tiles"]["count"], 4);
  }
}

// explain --db keeps a map with each result: of the best tile where the tile found the bin
// (the same map `explain --tiles` draws for that photo), of the whole photo elsewhere; the
// compare report then draws the tiles and maps over the photos.
TEST(TilesCli, ExplainKeepsMapsInTheSurveyAndTheReportDrawsThem) {
  test::TempDir dir;
  const fs::path model = tiny_checkpoint(dir, "tiny-vit");
  const auto photos = test::all_photos();
  const fs::path db = dir / "s.db";
  auto r = test::run_binscan({"scan", "-q", "--db", db.string(), "-m", model.string(),
                              "--bin-label", "3", "--tiles", "2x2", photos[0].string(),
                              photos[1].string(), photos[2].string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_binscan({"explain", "-q", "-m", model.string(), "--db", db.string(), "--label", "3",
                         "--patch", "32", "--stride", "32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = test::sql_rows(
      db,
      "SELECT p.path, r.occlusion, r.tile_bin_score > r.photo_bin_score, r.tile_x, r.tile_y "
      "FROM results r JOIN photos p USING (sha256) ORDER BY p.path");
  ASSERT_EQ(rows.size(), 3u);
  int tiled = 0;
  for (const auto& row : rows) {
    // The occlusion JSON holds no '|' (labels of this model are class_N).
    const auto c = split(row);
    ASSERT_EQ(c.size(), 5u) << row;
    const json stored = json::parse(c[1]);
    EXPECT_EQ(stored["class_id"], 3);
    const bool tile_found = c[2] == "1";
    tiled += tile_found;
    std::vector<std::string> args = {"explain", "-m", model.string(), c[0], "--label", "3",
                                     "--patch", "32", "--stride",     "32", "--json"};
    if (tile_found) {
      EXPECT_EQ(stored["region"][0].get<int>(), std::stoi(c[3]));
      EXPECT_EQ(stored["region"][1].get<int>(), std::stoi(c[4]));
      args.insert(args.end(), {"--tiles", "2x2"});
    } else {
      EXPECT_EQ(stored["region"][0], 0);
      EXPECT_EQ(stored["region"][1], 0);
    }
    const auto one = test::run_binscan(args);
    ASSERT_EQ(one.exit_code, 0) << one.err;
    const json want = json::parse(one.out);
    EXPECT_EQ(stored["xs"], want["xs"]);
    ASSERT_EQ(stored["drops"].size(), want["drops"].size());
    for (std::size_t y = 0; y < want["drops"].size(); ++y) {
      for (std::size_t x = 0; x < want["drops"][y].size(); ++x) {
        EXPECT_NEAR(stored["drops"][y][x].get<double>(), want["drops"][y][x].get<double>(),
                    5.1e-5);  // stored to 4 decimals
      }
    }
    EXPECT_NEAR(stored["peak"]["x"].get<double>(), want["peak"]["photo_x"].get<double>(), 1e-6);
  }

  const fs::path html = dir / "report.html";
  r = test::run_binscan({"compare", "--db", db.string(), "--html", html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_text_file(html);
  EXPECT_NE(page.find("id=\"where-legend\""), std::string::npos);
  // One overlay per photo, each with a ring on its map's peak; a dashed box for each best tile.
  const auto count = [&](const std::string& needle) {
    std::size_t n = 0;
    for (auto at = page.find(needle); at != std::string::npos; at = page.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<svg viewBox="), 3u);
  EXPECT_EQ(count("class=\"why occlusion\""), 3u);
  EXPECT_EQ(count("class=\"why tile\""), 3u);
  EXPECT_EQ(count("stroke-dasharray"), 3u);
  (void)tiled;
}

TEST(TilesCli, UntiledScansStoreNoTileAndBadGridsAreUsageErrors) {
  test::TempDir dir;
  const fs::path model = tiny_checkpoint(dir, "tiny-vit");
  const fs::path db = dir / "s.db";
  const auto photo = test::all_photos().front();
  const auto scan = test::run_binscan({"scan", "-q", "--db", db.string(), "-m", model.string(),
                                       "--bin-label", "3", photo.string()});
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  EXPECT_EQ(test::sql_rows(db, "SELECT tile_grid, tile_x, photo_bin_score FROM results"),
            std::vector<std::string>{"||"});
  const auto bad =
      test::run_binscan({"classify", "-m", model.string(), "--tiles", "3by3", photo.string()});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--tiles"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("3by3"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace binscan

// Aiming each photo's viewing ray at where in the frame its bin is (LocateOptions::bin_across):
// a synthetic street with bins beside the road, seen by cameras looking along it, so every bin
// is well off each camera's axis. With the frame positions a pinhole camera would record, the
// bins are recovered within centimetres; straight-ahead rays (today's behaviour) miss them by
// metres. Geometry checked against independent spherical formulas written here.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>

#include "analysis/locate.h"

namespace binscan {
namespace {

constexpr double kDeg = std::numbers::pi / 180;

// Initial great-circle bearing from a to b (an independent formula, not locate's local plane).
double bearing(LatLon a, LatLon b) {
  const double p1 = a.lat * kDeg, p2 = b.lat * kDeg, dl = (b.lon - a.lon) * kDeg;
  const double deg =
      std::atan2(std::sin(dl) * std::cos(p2),
                 std::cos(p1) * std::sin(p2) - std::sin(p1) * std::cos(p2) * std::cos(dl)) /
      kDeg;
  return deg < 0 ? deg + 360 : deg;
}

PhotoComparison photo(const std::string& path, LatLon at, double heading, const std::string& time) {
  PhotoComparison row;
  row.photo.path = path;
  row.photo.sha256 = path;
  row.photo.lat = at.lat;
  row.photo.lon = at.lon;
  row.photo.bearing = heading;
  row.photo.bearing_ref = "T";
  row.photo.width = 4000;
  row.photo.height = 3000;
  row.photo.focal_35mm = 27;  // a Pixel 4: 65.3 degrees across in landscape
  row.photo.taken_at = time;
  ResultRecord r;
  r.bin_score = 0.5;
  r.verdict = true;
  row.results = {r};
  row.verdicts = {true};
  row.group = CompareGroup::kOnlyA;
  return row;
}

TEST(LocateAim, OffAxisBinsAreFoundWhereTheFramesPutThem) {
  // A street running east; bins 6 m to its north and south. A car drives east taking photos
  // along the street (90 degrees) and towards its south side (105), then back west (250): every
  // bin is 6 to 27 degrees off the axis of the photos that show it.
  const LatLon start{52.0116, 4.3571};
  const std::vector<LatLon> bins = {destination(destination(start, 90, 30), 0, 6),
                                    destination(destination(start, 90, 80), 180, 6)};
  Comparison c;
  c.models = {{"m", "r"}};
  std::map<std::string, double> across;  // path -> where its bin is in the frame
  const double fov = horizontal_fov_deg(27, 4000, 3000);
  const auto add = [&](LatLon cam, double heading, const LatLon& bin, const std::string& name) {
    // Where a pinhole camera facing `heading` images the bin: tan(off) / tan(fov / 2) from the
    // centre, as a fraction of the width.
    double off = bearing(cam, bin) - heading;
    off = std::remainder(off, 360.0);
    ASSERT_LT(std::fabs(off), fov / 2) << name << " does not see its bin";
    across[name] = 0.5 + 0.5 * std::tan(off * kDeg) / std::tan(fov / 2 * kDeg);
    c.rows.push_back(photo(name, cam, heading, name));
  };
  add(destination(start, 90, 8), 90, bins[0], "a1");
  add(destination(start, 90, 18), 90, bins[0], "a2");
  add(destination(start, 90, 66), 105, bins[1], "b1");
  add(destination(start, 90, 92), 250, bins[1], "b2");

  LocateOptions o;
  o.merge_radius_m = 12;
  const Located plain = locate_bins(c, o);
  o.bin_across = [&](const PhotoRecord& p) -> std::optional<double> { return across.at(p.path); };
  const Located aimed = locate_bins(c, o);

  ASSERT_EQ(aimed.bins.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(aimed.bins[i].method, LocateMethod::kTriangulated) << i;
    EXPECT_LT(distance_m(aimed.bins[i].position, bins[i]), 0.05) << "bin " << i;
  }
  // Every sighting's aim is its bin's angle off the axis.
  for (const auto& s : aimed.sightings) {
    ASSERT_TRUE(s.aim_deg.has_value());
    const double want = std::remainder(
        bearing(s.camera, bins[s.photo.path[0] == 'a' ? 0 : 1]) - *s.photo.bearing, 360.0);
    EXPECT_NEAR(*s.aim_deg, want, 0.01) << s.photo.path;
  }
  // Straight ahead, the same photos put the bins metres away (or merge them wrongly).
  double worst_plain = 0;
  for (const auto& b : plain.bins) {
    double nearest = 1e9;
    for (const auto& truth : bins) nearest = std::min(nearest, distance_m(b.position, truth));
    worst_plain = std::max(worst_plain, nearest);
  }
  EXPECT_GT(worst_plain, 2.0);
  // The summary says which photos were aimed, and how far.
  EXPECT_NE(located_text(aimed).find("aimed off-axis: a1 "), std::string::npos)
      << located_text(aimed);
}

// Scanned with --tiles: the best tile's centre aims the ray when the tile (not the whole photo)
// found the bin; a tile that scored lower than the whole photo says nothing about where.
TEST(LocateAim, TheBestTileAimsTheRayWhenItFoundTheBin) {
  Comparison c;
  c.models = {{"m", "r"}};
  const LatLon cam{52.0116, 4.3571};
  const auto tiled = [&](const std::string& name, double tile_score, double photo_score) {
    PhotoComparison row = photo(name, cam, 30, name);
    ResultRecord& r = *row.results[0];
    r.tile_grid = "3x2";
    r.tile_x = 2500;  // centre at x = 3300 of 4000: 0.825 across
    r.tile_y = 0;
    r.tile_width = 1600;
    r.tile_height = 1700;
    r.tile_bin_score = tile_score;
    r.photo_bin_score = photo_score;
    r.bin_score = std::max(tile_score, photo_score);
    return row;
  };
  c.rows.push_back(tiled("tile-found", 0.6, 0.05));
  c.rows.push_back(tiled("photo-found", 0.2, 0.5));
  LocateOptions o;
  o.merge_radius_m = 0.1;
  const Located l = locate_bins(c, o);
  ASSERT_EQ(l.sightings.size(), 2u);
  const double fov = horizontal_fov_deg(27, 4000, 3000);
  for (const auto& s : l.sightings) {
    if (s.photo.path == "tile-found") {
      ASSERT_TRUE(s.aim_deg.has_value());
      // An independent pinhole: tan(off) = (2 * 0.825 - 1) tan(fov / 2).
      EXPECT_NEAR(*s.aim_deg, std::atan(0.65 * std::tan(fov / 2 * kDeg)) / kDeg, 1e-9);
    } else {
      EXPECT_FALSE(s.aim_deg.has_value()) << s.photo.path;
    }
  }
  o.aim_from_survey = false;
  for (const auto& s : locate_bins(c, o).sightings) EXPECT_FALSE(s.aim_deg.has_value());
}

TEST(LocateAim, PhotosWithoutAFramePositionKeepTheirBearing) {
  Comparison c;
  c.models = {{"m", "r"}};
  const LatLon cam{52.0116, 4.3571};
  c.rows.push_back(photo("only", cam, 30, "t"));
  LocateOptions o;
  o.bin_across = [](const PhotoRecord&) -> std::optional<double> { return std::nullopt; };
  const Located l = locate_bins(c, o);
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_FALSE(l.sightings[0].aim_deg.has_value());
  EXPECT_NEAR(bearing(cam, l.bins[0].position), 30, 0.01);
  EXPECT_NEAR(distance_m(cam, l.bins[0].position), o.distance_m, 0.01);
}

}  // namespace
}  // namespace binscan

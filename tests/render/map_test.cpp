// The bins' map page: the areas it opens on, the data it draws, its escaping, and the page itself
// in headless Chromium with every host unreachable (tests/reference/map_page_check.py).
#include "render/map.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "image/thumbnail.h"
#include "render/shots.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {
namespace fs = std::filesystem;
using test::bearing_to;
using test::Shot;

const LatLon kStreet{52.0116, 4.3571};  // Delft
const std::string kHostile = "</script><img src=x onerror=\"document.body.dataset.pwned=1\">";

bool inside(const MapArea& a, LatLon p) {
  return p.lat >= a.south_west.lat && p.lat <= a.north_east.lat && p.lon >= a.south_west.lon &&
         p.lon <= a.north_east.lon;
}

std::string at(LatLon p) { return std::to_string(p.lat) + "," + std::to_string(p.lon); }

// A street surveyed in Delft (bins 12 m apart on its north side, each seen from two places or
// one, a camera without bearing, photos without a bin) and three photos in a town 5 km east.
struct TwoTowns {
  std::vector<Shot> shots;
  LatLon far;
  TwoTowns() {
    for (int k = 0; k < 6; ++k) {
      const LatLon bin = destination(destination(kStreet, 90, 12.0 * k), 0, 6);
      const LatLon a = destination(bin, 200, 9), b = destination(bin, 150, 9);
      shots.emplace_back(a, bearing_to(a, bin));
      if (k % 2 == 0) shots.emplace_back(b, bearing_to(b, bin), "M", true, 0.8);
      shots.emplace_back(destination(kStreet, 90, 12.0 * k + 6), 90.0, "T", false);
    }
    shots.emplace_back(destination(kStreet, 270, 30), std::nullopt, "T", true, 0.3);
    far = destination(kStreet, 90, 5000);
    shots.emplace_back(far, 0.0);
    shots.emplace_back(destination(far, 90, 20), 0.0);
    shots.emplace_back(destination(far, 90, 40), 90.0, "T", false);
  }
};

Located two_towns_located(bool with_registry) {
  const TwoTowns t;
  auto comparison = test::one_model(t.shots);
  comparison.rows[0].photo.path = "/photos/" + kHostile + ".jpg";
  Located l = locate_bins(comparison, {});
  if (with_registry) {
    // Every Delft bin but one on the registry (3 m north), one more in view, one far away.
    std::vector<RegistryBin> registry;
    for (const auto& b : l.bins) {
      if (b.id == 2 || distance_m(b.position, kStreet) > 1000) continue;
      registry.push_back({"reg" + std::to_string(b.id), destination(b.position, 0, 3)});
    }
    // 25 m from the nearest bin, 35 m ahead of a camera: in view, nothing to match it.
    registry.push_back({"unseen " + kHostile, destination(destination(kStreet, 90, 30), 0, 31)});
    registry.push_back({"elsewhere", {52.3731, 4.8922}});
    hold_against_registry(l, registry, 15);
  }
  return l;
}

TEST(MapAreas, TheMapOpensOnTheTownWithMostPhotos) {
  const TwoTowns t;
  const Located l = two_towns_located(false);
  const auto areas = map_areas(l);
  ASSERT_EQ(areas.size(), 2u);
  EXPECT_EQ(areas[0].photos, 16);
  EXPECT_EQ(areas[1].photos, 3);
  for (const auto& s : l.sightings) {
    const bool delft = distance_m(s.camera, kStreet) < 1000;
    EXPECT_EQ(inside(areas[0], s.camera), delft);
    EXPECT_EQ(inside(areas[1], s.camera), !delft);
    EXPECT_TRUE(inside(areas[delft ? 0 : 1], l.bins[static_cast<std::size_t>(s.bin)].position));
  }
  for (const auto& p : l.no_bin) EXPECT_TRUE(inside(areas[0], p) || inside(areas[1], p));
  // The street's box is the street (about 100 m), with room for the views around it.
  EXPECT_LT(distance_m(areas[0].south_west, areas[0].north_east), 150);
  EXPECT_GT(distance_m(areas[0].south_west, areas[0].north_east), 60);
}

TEST(MapAreas, PhotosAlongALongStreetAreOneAreaAndEveryPhotoCounts) {
  // One photo every 150 m for 3 km (gaps under kAreaLinkM chain), then a lone one 2 km away.
  std::vector<Shot> shots;
  for (int k = 0; k < 20; ++k) shots.emplace_back(destination(kStreet, 45, 150.0 * k), 0.0);
  shots.emplace_back(destination(kStreet, 225, 2000), 0.0, "T", false);
  const auto areas = map_areas(locate_bins(test::one_model(shots), {}));
  ASSERT_EQ(areas.size(), 2u);
  EXPECT_EQ(areas[0].photos, 20);
  EXPECT_EQ(areas[1].photos, 1);
  EXPECT_TRUE(inside(areas[0], destination(kStreet, 45, 150.0 * 19)));
  // Nothing placed: no area.
  Shot nowhere{{0, 0}, 0.0};
  nowhere.gps = false;
  EXPECT_TRUE(map_areas(locate_bins(test::one_model({nowhere}), {})).empty());
}

TEST(MapPage, OneFileWithLeafletAndTheDataEscaped) {
  const Located l = two_towns_located(true);
  const std::string html = render_map_html(l, {});
  // Leaflet is in the page; none of its images or source maps are fetched from elsewhere.
  EXPECT_NE(html.find("Leaflet 1."), std::string::npos);
  EXPECT_NE(html.find(".leaflet-container"), std::string::npos);
  EXPECT_EQ(html.find("images/"), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
  std::size_t scripts = 0;
  for (auto p = html.find("<script"); p != std::string::npos; p = html.find("<script", p + 1)) {
    ++scripts;
  }
  EXPECT_EQ(scripts, 1u);
  // A hostile name never closes the script or makes an element.
  EXPECT_EQ(html.find(kHostile), std::string::npos);
  EXPECT_EQ(html.find("<img src=x"), std::string::npos);
  const auto data = test::map_page_data(html);
  EXPECT_EQ(data["tiles"], kOsmTileUrl);
  EXPECT_EQ(data["sightings"].size(), l.sightings.size());
  EXPECT_EQ(data["nobin"].size(), l.no_bin.size());
  EXPECT_EQ(data["areas"].size(), 2u);
  EXPECT_EQ(data["areas"][0]["photos"], 16);
  bool hostile_path = false;
  for (const auto& s : data["sightings"])
    hostile_path |= s["path"] == "/photos/" + kHostile + ".jpg";
  EXPECT_TRUE(hostile_path);
  std::map<std::string, int> statuses;
  for (const auto& r : data["registry"]) ++statuses[r["status"].get<std::string>()];
  EXPECT_EQ(statuses["missed"], 1);
  EXPECT_EQ(statuses["outside"], 1);
  EXPECT_EQ(statuses["matched"], l.registry->matches);
  int unregistered = 0;
  for (const auto& b : data["bins"]) unregistered += b["registry"].is_null();
  EXPECT_EQ(unregistered, l.registry->unregistered);
  EXPECT_GE(unregistered, 1);
  // Without a tile URL the page asks nothing of any server.
  MapOptions offline;
  offline.tile_url.clear();
  const std::string plain = render_map_html(l, offline);
  EXPECT_TRUE(test::map_page_data(plain)["tiles"].is_null());
}

TEST(MapInChromium, OfflineTheStreetIsReadableAndEveryBinOpensItsPhotos) {
  if (!test::browser_installed()) {
    if (test::browser_required()) FAIL() << "chromium and chromium-driver are not installed";
    GTEST_SKIP() << "needs chromium + chromium-driver (scripts/install-deps --with-browser)";
  }
  const TwoTowns t;
  const Located l = two_towns_located(true);
  MapOptions o;
  o.database = "two-towns.db";
  o.thumbnail = [](const PhotoRecord& p) -> std::optional<std::vector<std::uint8_t>> {
    Image image(48, 36);
    const auto shade = static_cast<std::uint8_t>(p.path.size() * 7 % 200);
    for (std::size_t i = 0; i < image.pixels.size(); ++i) {
      image.pixels[i] = static_cast<std::uint8_t>(shade + i % 3 * 20);
    }
    return encode_jpeg(image, 80);
  };
  test::TempDir dir;
  const fs::path page = dir / "bins.html";
  write_file_atomically(page, render_map_html(l, o));
  const fs::path artefacts = test::source_dir() / "build" / "test-artifacts";
  fs::create_directories(artefacts);
  const auto r = test::run_python(
      "map_page_check.py",
      {"file://" + page.string(), "--bins", std::to_string(l.bins.size()), "--inside", at(kStreet),
       "--inside", at(destination(kStreet, 90, 60)), "--outside", at(t.far), "--screenshot",
       (artefacts / "bins-map.png").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok " + std::to_string(l.bins.size()) + "\n");
  EXPECT_TRUE(fs::exists(artefacts / "bins-map.png"));
}

}  // namespace
}  // namespace binscan

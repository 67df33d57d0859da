// Locating bins from sightings. Geometry is checked against formulas written here independently
// of src/analysis/locate.cpp: the spherical initial-bearing formula, the length of a degree, and a
// brute-force search for the point nearest to all viewing rays.
#include "analysis/locate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <random>

#include "render/map.h"
#include "render/shots.h"
#include "support/test_support.h"

namespace binscan {
namespace {

using test::bearing_to;
using test::kRad;
using test::one_model;
using test::photo_row;
using test::Shot;

const LatLon kBin{52.0016081, 4.3700694};

TEST(Geodesy, DestinationMatchesTheLengthOfADegree) {
  const double degree = kEarthRadiusM * kRad;  // metres per degree of a great circle
  const LatLon north = destination({52, 4}, 0, 2 * degree);
  EXPECT_NEAR(north.lat, 54, 1e-12);
  EXPECT_NEAR(north.lon, 4, 1e-12);
  const LatLon east = destination({0, 179.5}, 90, degree);  // across the antimeridian
  EXPECT_NEAR(east.lat, 0, 1e-12);
  EXPECT_NEAR(east.lon, -179.5, 1e-9);
  const LatLon south = destination({-10, -70}, 180, 0.5 * degree);
  EXPECT_NEAR(south.lat, -10.5, 1e-12);
  EXPECT_NEAR(distance_m({52, 4}, {53, 4}), degree, 1e-6);
}

TEST(Geodesy, DistanceAndBearingRecoverWhatDestinationWasGiven) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> lat(-70, 70), lon(-180, 180), b(0, 360), d(0.5, 2000);
  for (int i = 0; i < 500; ++i) {
    const LatLon from{lat(rng), lon(rng)};
    const double bearing = b(rng), dist = d(rng);
    const LatLon to = destination(from, bearing, dist);
    EXPECT_NEAR(distance_m(from, to), dist, 1e-6 * dist + 1e-6);
    const double back = bearing_to(from, to);
    EXPECT_NEAR(std::remainder(back - bearing, 360.0), 0, 1e-6) << bearing << " " << dist;
  }
}

TEST(Locate, PhotosFromTwoSidesTriangulateTheBin) {
  const LatLon a = destination(kBin, 200, 12), b = destination(kBin, 115, 9);
  const Located l =
      locate_bins(one_model({{a, bearing_to(a, kBin)}, {b, bearing_to(b, kBin)}}), {});
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_EQ(l.bins[0].method, LocateMethod::kTriangulated);
  EXPECT_LT(distance_m(l.bins[0].position, kBin), 0.01);
  EXPECT_DOUBLE_EQ(l.bins[0].spread_m, 3.0);  // the rays meet exactly: the GPS floor
  EXPECT_EQ(l.bins[0].sightings.size(), 2u);
  EXPECT_DOUBLE_EQ(l.bins[0].best_score, 0.5);
}

// The point nearest to all rays, by brute force on a 1 cm grid around `guess`.
LatLon nearest_to_rays(const std::vector<std::pair<LatLon, double>>& rays, LatLon guess) {
  const double m = kEarthRadiusM * kRad;
  auto cost = [&](double x, double y) {
    double sum = 0;
    for (const auto& [cam, bearing] : rays) {
      const double cx = (cam.lon - guess.lon) * m * std::cos(guess.lat * kRad);
      const double cy = (cam.lat - guess.lat) * m;
      const double dx = std::sin(bearing * kRad), dy = std::cos(bearing * kRad);
      const double px = x - cx, py = y - cy;
      const double perp = px * dy - py * dx;
      sum += perp * perp;
    }
    return sum;
  };
  double bx = 0, by = 0, best = cost(0, 0);
  for (double step : {0.5, 0.05, 0.01}) {
    const double cx = bx, cy = by;
    for (int i = -40; i <= 40; ++i) {
      for (int j = -40; j <= 40; ++j) {
        const double c = cost(cx + i * step, cy + j * step);
        if (c < best) best = c, bx = cx + i * step, by = cy + j * step;
      }
    }
  }
  return {guess.lat + by / m, guess.lon + bx / (m * std::cos(guess.lat * kRad))};
}

TEST(Locate, NoisyBearingsGiveTheLeastSquaresCrossing) {
  std::vector<Shot> shots;
  std::vector<std::pair<LatLon, double>> rays;
  const double noise[] = {2.5, -3, 1.5};
  const double around[] = {180, 240, 130};
  const double dist[] = {14, 9, 11};
  for (int i = 0; i < 3; ++i) {
    const LatLon cam = destination(kBin, around[i], dist[i]);
    const double bearing = bearing_to(cam, kBin) + noise[i];
    shots.push_back({cam, bearing});
    rays.emplace_back(cam, bearing);
  }
  const Located l = locate_bins(one_model(shots), {});
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_EQ(l.bins[0].method, LocateMethod::kTriangulated);
  EXPECT_LT(distance_m(l.bins[0].position, nearest_to_rays(rays, kBin)), 0.02);
  EXPECT_GT(distance_m(l.bins[0].position, kBin), 0.05);  // the noise moved it
  EXPECT_LT(distance_m(l.bins[0].position, kBin), 1.5);
}

TEST(Locate, ALonePhotoIsProjectedAlongItsBearing) {
  const LatLon cam{51.998453, 4.381222};
  LocateOptions o;
  o.distance_m = 8;
  const Located l = locate_bins(one_model({{cam, 36.0}}), o);
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_EQ(l.bins[0].method, LocateMethod::kProjected);
  EXPECT_NEAR(distance_m(cam, l.bins[0].position), 8, 1e-6);
  EXPECT_NEAR(bearing_to(cam, l.bins[0].position), 36, 1e-6);
  EXPECT_DOUBLE_EQ(l.bins[0].spread_m, 4.0);  // half the assumed distance
}

TEST(Locate, MagneticBearingsAreCorrectedByTheDeclination) {
  const LatLon cam{52.0, 4.37};
  LocateOptions o;
  o.declination_deg = 10;
  const Located l = locate_bins(one_model({{cam, 350.0, "M"}, {{52.01, 4.37}, 350.0, "T"}}), o);
  ASSERT_EQ(l.bins.size(), 2u);
  EXPECT_EQ(l.magnetic, 1);
  EXPECT_NEAR(*l.sightings[0].bearing_true, 0, 1e-12);
  EXPECT_NEAR(bearing_to(cam, l.bins[0].position), 0, 1e-6);  // magnetic 350 + 10 = north
  EXPECT_NEAR(*l.sightings[1].bearing_true, 350, 1e-12);      // true bearings untouched
  EXPECT_NE(located_text(l).find("corrected by 10.0 degrees"), std::string::npos);
}

TEST(Locate, RaysFromOneSpotAreAveragedNotCrossed) {
  // Two photos from the same place 40 degrees apart: their rays meet only at the camera.
  const LatLon cam{52.0004, 4.3793};
  const Located l = locate_bins(one_model({{cam, 340.0}, {cam, 20.0}}), {});
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_EQ(l.bins[0].method, LocateMethod::kProjected);
  EXPECT_NEAR(bearing_to(cam, l.bins[0].position), 0, 1e-6);
  EXPECT_NEAR(distance_m(cam, l.bins[0].position), 8 * std::cos(20 * kRad), 1e-3);
}

TEST(Locate, NearlyParallelRaysAreAveraged) {
  const LatLon a{52.0004, 4.3793};
  const LatLon b = destination(a, 90, 3);
  const Located l = locate_bins(one_model({{a, 0.0}, {b, 4.0}}), {});
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_EQ(l.bins[0].method, LocateMethod::kProjected);  // 4 degrees apart: below --min-angle
}

TEST(Locate, ACrossingOutsideAPhotosViewIsNotBelieved) {
  // Three photos around a bin, one bearing 20 degrees off: the least-squares point lies off that
  // photo's axis by more than half of a narrow field of view, but well inside a wide one.
  const LatLon a = destination(kBin, 180, 20), b = destination(kBin, 240, 20),
               c = destination(kBin, 120, 20);
  const auto shots = std::vector<Shot>{
      {a, bearing_to(a, kBin) + 20}, {b, bearing_to(b, kBin)}, {c, bearing_to(c, kBin)}};
  LocateOptions narrow;
  narrow.fov_deg = 10;
  narrow.merge_radius_m = 30;
  EXPECT_EQ(locate_bins(one_model(shots), narrow).bins.at(0).method, LocateMethod::kProjected);
  LocateOptions wide = narrow;
  wide.fov_deg = 60;
  const Located l = locate_bins(one_model(shots), wide);
  ASSERT_EQ(l.bins.size(), 1u);
  EXPECT_EQ(l.bins[0].method, LocateMethod::kTriangulated);
  EXPECT_GT(distance_m(l.bins[0].position, kBin), 0.5);  // pulled off by the stray ray
}

TEST(Locate, EachPhotosFieldOfViewComesFromItsFocalLength) {
  // A 3:2 photo has the film's own frame: 36 mm across, so the view is 2 atan(18 / f).
  EXPECT_NEAR(horizontal_fov_deg(50, 3000, 2000), 2 * std::atan(18.0 / 50) / kRad, 1e-9);
  EXPECT_NEAR(horizontal_fov_deg(50, 2000, 3000), 2 * std::atan(12.0 / 50) / kRad, 1e-9);
  EXPECT_NEAR(horizontal_fov_deg(27, 4032, 3024), 65.3187, 1e-4);  // Pixel 4, landscape
  EXPECT_NEAR(horizontal_fov_deg(27, 1500, 2000), 51.3509, 1e-4);  // ... portrait

  // The stray-ray scene again: a long lens (200 mm: about 10 degrees) rules the crossing out,
  // whatever --fov says; photos without a focal length use --fov.
  const LatLon a = destination(kBin, 180, 20), b = destination(kBin, 240, 20),
               c = destination(kBin, 120, 20);
  auto comparison = one_model(
      {{a, bearing_to(a, kBin) + 20}, {b, bearing_to(b, kBin)}, {c, bearing_to(c, kBin)}});
  LocateOptions o;
  o.merge_radius_m = 30;
  o.fov_deg = 60;
  EXPECT_EQ(locate_bins(comparison, o).bins.at(0).method, LocateMethod::kTriangulated);
  for (auto& row : comparison.rows) {
    row.photo.focal_35mm = 200;
    row.photo.width = 3000;
    row.photo.height = 2000;
  }
  const Located l = locate_bins(comparison, o);
  EXPECT_NEAR(l.sightings[0].fov_deg, 2 * std::atan(18.0 / 200) / kRad, 1e-9);
  EXPECT_EQ(l.bins.at(0).method, LocateMethod::kProjected);
  EXPECT_EQ(located_geojson(l)["features"][1]["properties"]["fov_deg"].get<double>(),
            l.sightings[0].fov_deg);
}

TEST(Locate, BinsFarApartStaySeparateInCaptureOrder) {
  const LatLon far = destination(kBin, 90, 60);
  const LatLon a = destination(kBin, 180, 10), b = destination(far, 180, 10);
  const Located l = locate_bins(one_model({{b, 0.0, "T", true, 0.9, "2022-01-19T12:05:00"},
                                           {a, 0.0, "T", true, 0.4, "2022-01-19T12:01:00"}}),
                                {});
  ASSERT_EQ(l.bins.size(), 2u);
  EXPECT_EQ(l.bins[0].id, 1);
  EXPECT_LT(distance_m(l.bins[0].position, kBin), 2.1);  // the earlier photo's bin comes first
  EXPECT_LT(distance_m(l.bins[1].position, far), 2.1);
  EXPECT_DOUBLE_EQ(l.bins[1].best_score, 0.9);
}

TEST(Locate, CountsPhotosWithoutABinGpsOrBearing) {
  const LatLon cam{52.0, 4.37};
  Shot no_gps{cam, 10.0};
  no_gps.gps = false;
  Shot negative{destination(cam, 0, 100), 10.0};
  negative.found = false;
  Shot no_bearing{destination(cam, 90, 200), std::nullopt};
  const Located l = locate_bins(one_model({{cam, 10.0}, no_gps, negative, no_bearing}), {});
  EXPECT_EQ(l.photos, 4);
  EXPECT_EQ(l.positives, 3);
  EXPECT_EQ(l.without_gps, 1);
  EXPECT_EQ(l.without_bearing, 1);
  ASSERT_EQ(l.bins.size(), 2u);
  EXPECT_EQ(l.bins[1].method, LocateMethod::kCamera);
  EXPECT_LT(distance_m(l.bins[1].position, no_bearing.at), 1e-6);
}

TEST(Locate, WithTwoModelsTheRuleSaysWhoseVerdictCounts) {
  Comparison c;
  c.models = {{"a/vit", "1"}, {"b/resnet", "2"}};
  const LatLon cam{52.0, 4.37};
  c.rows.push_back(photo_row({cam, 0.0}, {true, false}));
  c.rows.push_back(photo_row({destination(cam, 90, 100), 0.0}, {true, true}));
  c.rows.push_back(photo_row({destination(cam, 90, 200), 0.0}, {false, false}));
  LocateOptions any;
  const Located l_any = locate_bins(c, any);
  EXPECT_EQ(l_any.positives, 2);
  EXPECT_EQ(l_any.sightings[0].found_by, std::vector<std::string>{"a/vit@1"});
  LocateOptions all;
  all.rule = LocateRule::kAll;
  const Located l_all = locate_bins(c, all);
  EXPECT_EQ(l_all.positives, 1);
  EXPECT_EQ(l_all.sightings[0].found_by, (std::vector<std::string>{"a/vit@1", "b/resnet@2"}));
}

TEST(Locate, GeoJsonCsvAndMapAgree) {
  const LatLon a = destination(kBin, 200, 12), b = destination(kBin, 115, 9);
  const LatLon lone{52.003, 4.372};
  auto comparison = one_model({{a, bearing_to(a, kBin)}, {b, bearing_to(b, kBin)}, {lone, 90.0}});
  comparison.rows[2].photo.path = "/photos/<odd & \"name\">.jpg";
  const Located l = locate_bins(comparison, {});
  ASSERT_EQ(l.bins.size(), 2u);

  const auto geo = located_geojson(l);
  EXPECT_EQ(geo["type"], "FeatureCollection");
  int points = 0, lines = 0;
  for (const auto& f : geo["features"]) {
    const auto& coords = f["geometry"]["coordinates"];
    if (f["geometry"]["type"] == "Point") {
      ++points;
      const auto& bin = l.bins.at(f["properties"]["id"].get<std::size_t>() - 1);
      EXPECT_EQ(coords[0].get<double>(), bin.position.lon);  // [lon, lat]
      EXPECT_EQ(coords[1].get<double>(), bin.position.lat);
    } else {
      ++lines;
      EXPECT_EQ(f["geometry"]["type"], "LineString");
      EXPECT_EQ(f["properties"]["kind"], "sighting");
      const auto& bin = l.bins.at(f["properties"]["bin"].get<std::size_t>() - 1);
      EXPECT_EQ(coords[1][0].get<double>(), bin.position.lon);
    }
  }
  EXPECT_EQ(points, 2);
  EXPECT_EQ(lines, 3);

  const std::string csv = located_csv(l);
  EXPECT_EQ(csv.rfind("id,lat,lon,method,spread_m,photos,best_score,paths\r\n", 0), 0u);
  EXPECT_NE(csv.find("\r\n2,"), std::string::npos);
  EXPECT_NE(csv.find("\"/photos/<odd & \"\"name\"\">.jpg\""), std::string::npos);

  const std::string html = render_map_html(l, {});
  const auto data = test::map_page_data(html);
  ASSERT_EQ(data["bins"].size(), 2u);
  ASSERT_EQ(data["sightings"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& s = data["sightings"][i];
    EXPECT_NEAR(s["lat"].get<double>(), l.sightings[i].camera.lat, 1e-7);
    EXPECT_NEAR(s["bearing"].get<double>(), *l.sightings[i].bearing_true, 1e-12);  // a view
    EXPECT_EQ(s["bin"], l.bins[static_cast<std::size_t>(l.sightings[i].bin)].id);
  }
  EXPECT_EQ(data["sightings"][2]["path"], l.sightings[2].photo.path);
  EXPECT_EQ(l.sightings[2].photo.path, "/photos/<odd & \"name\">.jpg");
  EXPECT_EQ(html.find("<odd"), std::string::npos);  // escaped, in the table and the data
  EXPECT_NE(html.find("&lt;odd &amp; &quot;name&quot;&gt;"), std::string::npos);
}

TEST(Locate, GroupingThousandsOfPhotosMatchesAnExhaustiveSearch) {
  // 4000 photos over a 1.5 km square, lone and in clumps: every sighting must join the group an
  // exhaustive nearest-centre search (written here, with plain means of latitude and longitude)
  // picks, whatever cells the centres sit in.
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1), turn(0, 360);
  std::vector<Shot> shots;
  for (int i = 0; i < 4000; ++i) {
    const LatLon spot = destination(destination({52.0, 4.36}, 90, 1500 * u(rng)), 0, 1500 * u(rng));
    char when[32];
    std::snprintf(when, sizeof when, "2022-01-19T%02d:%02d:%02d", 8 + i / 3600, i / 60 % 60,
                  i % 60);
    shots.emplace_back(spot, turn(rng), "T", true, 0.5, when);
    if (i % 3 == 0) {  // a second photo of roughly the same spot
      ++i;
      std::snprintf(when, sizeof when, "2022-01-19T%02d:%02d:%02d", 8 + i / 3600, i / 60 % 60,
                    i % 60);
      shots.emplace_back(destination(spot, turn(rng), 6 * u(rng)), turn(rng), "T", true, 0.5, when);
    }
  }
  LocateOptions o;
  const Located l = locate_bins(one_model(shots), o);
  ASSERT_EQ(l.sightings.size(), shots.size());
  std::vector<LatLon> sums;  // per group: sum of lat, sum of lon
  std::vector<int> counts;
  for (std::size_t i = 0; i < l.sightings.size(); ++i) {
    const auto& s = l.sightings[i];
    const LatLon e = destination(s.camera, *s.bearing_true, o.distance_m);
    int best = -1;
    double best_d = o.merge_radius_m;
    for (std::size_t g = 0; g < sums.size(); ++g) {
      const LatLon centre{sums[g].lat / counts[g], sums[g].lon / counts[g]};
      const double d = distance_m(centre, e);
      if (best < 0 ? d <= best_d : d < best_d) best_d = d, best = static_cast<int>(g);
    }
    if (best < 0) {
      best = static_cast<int>(sums.size());
      sums.push_back({0, 0});
      counts.push_back(0);
    }
    sums[best].lat += e.lat;
    sums[best].lon += e.lon;
    ++counts[best];
    ASSERT_EQ(s.bin, best) << "sighting " << i;
  }
  EXPECT_EQ(l.bins.size(), sums.size());
  EXPECT_GT(l.bins.size(), 2000u);
  EXPECT_LT(l.bins.size(), shots.size());
}

TEST(Locate, PolesAndTheAntimeridianGiveFinitePositions) {
  // Broken or exotic EXIF must not break the arithmetic (no division by zero, no overflow).
  const Located l = locate_bins(one_model({{{90, 0}, 10.0},
                                           {{90, 0}, 200.0},
                                           {{-90, 180}, std::nullopt},
                                           {{0, 179.99999}, 90.0},
                                           {{0, -179.99999}, 270.0}}),
                                {});
  EXPECT_EQ(l.sightings.size(), 5u);
  for (const auto& b : l.bins) {
    EXPECT_TRUE(std::isfinite(b.position.lat) && std::isfinite(b.position.lon)) << b.id;
  }
  // Not numbers, or off the globe: placed nowhere, counted as without GPS (or bearing).
  const double nan = std::nan("");
  const Located broken =
      locate_bins(one_model({{{nan, 4}, 10.0},
                             {{52, 181}, 10.0},
                             {{52, 4}, nan},
                             {{52, 4}, std::numeric_limits<double>::infinity()}}),
                  {});
  EXPECT_EQ(broken.without_gps, 2);
  EXPECT_EQ(broken.without_bearing, 2);
  ASSERT_EQ(broken.bins.size(), 1u);
  EXPECT_EQ(broken.bins[0].method, LocateMethod::kCamera);
  for (const auto& b : l.bins) {
    EXPECT_TRUE(std::isfinite(b.position.lat) && std::isfinite(b.position.lon)) << b.id;
    EXPECT_LE(std::fabs(b.position.lat), 90.0);
    EXPECT_TRUE(std::isfinite(b.spread_m));
  }
}

TEST(Locate, NothingToPlaceIsSaidPlainly) {
  // Photos without a bin: no bins, but the map still shows the ground the photos covered.
  const Located l = locate_bins(
      one_model({{{52, 4}, 0.0, "T", false}, {{52.001, 4.001}, std::nullopt, "T", false}}), {});
  EXPECT_TRUE(l.bins.empty());
  EXPECT_EQ(l.no_bin.size(), 2u);
  EXPECT_NE(located_text(l).find("located 0 bins"), std::string::npos);
  const std::string map = render_map_html(l, {});
  EXPECT_EQ(map.find("id=\"nomap\""), std::string::npos);
  EXPECT_NE(map.find("<div id=\"map\""), std::string::npos);
  const auto data = test::map_page_data(map);
  EXPECT_EQ(data["bins"].size(), 0u);
  EXPECT_EQ(data["nobin"].size(), 2u);
  EXPECT_EQ(located_geojson(l)["features"].size(), 0u);
  // No position at all: nothing to draw, and the page says so.
  Shot nowhere{{0, 0}, 0.0, "T", false};
  nowhere.gps = false;
  const Located none = locate_bins(one_model({nowhere}), {});
  EXPECT_TRUE(none.no_bin.empty());
  const std::string empty = render_map_html(none, {});
  EXPECT_NE(empty.find("id=\"nomap\""), std::string::npos);
  EXPECT_TRUE(test::map_page_data(empty).is_null());
  EXPECT_EQ(empty.find("<div id=\"map\""), std::string::npos);
}

}  // namespace
}  // namespace binscan

// The located bins held against a city's registry (analysis/locate.h): a synthetic street whose
// answer is known by construction — one-to-one matching (nearest pair first), registry bins in
// view but not found (missed), out of view (not covered), located bins not in the registry — and
// reading registries from GeoJSON and CSV, with errors that name the row.
#include <gtest/gtest.h>

#include <fstream>

#include "analysis/locate.h"
#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

LocatedBin bin_at(int id, LatLon p) {
  LocatedBin b;
  b.id = id;
  b.position = p;
  return b;
}

TEST(Registry, SyntheticStreetGivesTheKnownMatchesMissesAndPrecisionRecall) {
  const LatLon a{52.0116, 4.3571};  // camera A looks east, camera B north; both 60 degrees wide
  const LatLon b = destination(a, 90, 60);
  Located l;
  l.options.max_range_m = 40;
  l.views.push_back({a, 90.0, 60, true});
  l.views.push_back({b, 0.0, 60, true});
  l.views.push_back(
      {destination(a, 180, 30), std::nullopt, 60, false});  // no bearing: covers nothing
  const LatLon bin1 = destination(a, 90, 10);
  const LatLon bin2 = destination(b, 0, 20);
  const LatLon bin3 = destination(a, 180, 100);  // found, but not in the registry
  l.bins = {bin_at(1, bin1), bin_at(2, bin2), bin_at(3, bin3)};

  std::vector<RegistryBin> registry = {
      {"R1", destination(bin1, 90, 3)},   // 3 m from bin 1, but R6 is nearer: missed (in A's view)
      {"R2", destination(bin2, 90, 12)},  // 12 m from bin 2: matched within 15 m
      {"R3", destination(a, 92, 25)},     // 25 m ahead of A, nothing found there: missed
      {"R4", destination(a, 270, 10)},    // behind A, beside B's view: not covered
      {"R5", destination(a, 0, 1000)},    // a kilometre away: not covered
      {"R6", destination(bin1, 0, 2)},    // 2 m from bin 1: matched
  };
  hold_against_registry(l, registry, 15);
  ASSERT_TRUE(l.registry.has_value());
  const RegistryCheck& r = *l.registry;
  EXPECT_EQ(r.matched_bin, (std::vector<int>{-1, 1, -1, -1, -1, 0}));
  EXPECT_EQ(r.registry_of_bin, (std::vector<int>{5, 1, -1}));
  EXPECT_NEAR(r.match_distance_m[5], 2.0, 1e-6);
  EXPECT_NEAR(r.match_distance_m[1], std::hypot(12.0, 0.0), 0.01);
  // R2 is atan(12 / 20) = 31 degrees off B's axis: just outside its 60-degree view (matched
  // all the same: the match is by distance to a located bin).
  EXPECT_EQ(r.covered, (std::vector<bool>{true, false, true, false, false, true}));
  EXPECT_EQ(r.matches, 2);
  EXPECT_EQ(r.missed, 2);
  EXPECT_EQ(r.outside, 2);
  EXPECT_EQ(r.unregistered, 1);
  ASSERT_TRUE(r.precision && r.recall);
  EXPECT_DOUBLE_EQ(*r.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(*r.recall, 0.5);

  // The outputs carry it: GeoJSON registry features, CSV columns, the summary.
  const auto g = located_geojson(l);
  int registry_features = 0;
  for (const auto& f : g["features"]) {
    if (f["properties"]["kind"] != "registry") continue;
    ++registry_features;
    const auto& id = f["properties"]["registry_id"];
    if (id == "R3") {
      EXPECT_EQ(f["properties"]["status"], "missed");
    } else if (id == "R5") {
      EXPECT_EQ(f["properties"]["status"], "not covered");
    } else if (id == "R6") {
      EXPECT_EQ(f["properties"]["bin"], 1);
    }
  }
  EXPECT_EQ(registry_features, 6);
  const std::string csv = located_csv(l);
  EXPECT_NE(csv.find(",registry_id,registry_distance_m\r\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",R6,2.0\r\n"), std::string::npos) << csv;
  const std::string text = located_text(l);
  EXPECT_NE(text.find("precision 67%"), std::string::npos) << text;
  EXPECT_NE(text.find("recall 50%"), std::string::npos) << text;
  EXPECT_NE(text.find("missed: registry R3"), std::string::npos) << text;
}

TEST(Registry, NoLocatedBinsAndNothingCovered) {
  Located l;
  hold_against_registry(l, {{"only", {52, 4}}}, 15);
  EXPECT_FALSE(l.registry->precision.has_value());
  EXPECT_FALSE(l.registry->recall.has_value());
  EXPECT_EQ(l.registry->outside, 1);
}

TEST(Registry, ReadsGeoJsonAndCsvAndNamesTheBadRow) {
  test::TempDir dir;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const auto g = read_registry(write("r.geojson", R"({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {"name": "Oude Delft 1"},
     "geometry": {"type": "Point", "coordinates": [4.3571, 52.0116]}},
    {"type": "Feature", "id": 77, "properties": {},
     "geometry": {"type": "Point", "coordinates": [4.358, 52.012, 0.5]}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [4.359, 52.013]}}]})"));
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].id, "Oude Delft 1");
  EXPECT_DOUBLE_EQ(g[0].position.lat, 52.0116);
  EXPECT_DOUBLE_EQ(g[0].position.lon, 4.3571);
  EXPECT_EQ(g[1].id, "77");
  EXPECT_EQ(g[2].id, "3");

  const auto c =
      read_registry(write("r.csv",
                          "\xEF\xBB\xBF\"Container ID\",\"Latitude\",\"Longitude\",id\r\n"
                          "x,52.0116,4.3571,\"A, 1\"\r\n\r\ny,52.5,-0.25,\r\n"));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].id, "A, 1");
  EXPECT_DOUBLE_EQ(c[1].position.lon, -0.25);
  EXPECT_EQ(c[1].id, "2");

  const auto message = [](const std::filesystem::path& p) {
    try {
      read_registry(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(write("bad.csv", "lat,lon\n52,4\n52,east\n")).find("line 3"),
            std::string::npos);
  EXPECT_NE(message(write("nohead.csv", "a,b\n1,2\n")).find("latitude"), std::string::npos);
  EXPECT_NE(message(write("far.csv", "lat,lon\n95,4\n")).find("line 2"), std::string::npos);
  EXPECT_NE(message(write("line.geojson",
                          R"({"type": "FeatureCollection", "features": [{"type": "Feature",
                          "geometry": {"type": "LineString", "coordinates": [[4, 52], [5, 52]]}}]})"))
                .find("feature 1: a LineString"),
            std::string::npos);
  EXPECT_NE(message(write("empty.csv", "lat,lon\n")).find("no bins"), std::string::npos);
}

}  // namespace
}  // namespace binscan

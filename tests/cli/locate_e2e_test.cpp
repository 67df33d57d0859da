// binscan locate through the binary: the trash-bin photos (Pixel 4, EXIF GPS and magnetic
// bearings) scanned with a random-weight checkpoint at threshold 0 — every photo "shows a bin" —
// then located, and the outputs checked by tests/reference/locate_check.py against Pillow's EXIF
// and independent geometry; the map opened in headless Chromium.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {
namespace fs = std::filesystem;

struct LocatedSurvey {
  test::TempDir dir;
  fs::path db;
  test::CommandResult scan;
};

const LocatedSurvey& survey() {
  static LocatedSurvey* s = [] {
    auto* out = new LocatedSurvey;  // lives for the whole test program
    test::run_python("make_checkpoint.py",
                     {"--preset", "tiny-resnet-basic", "--out", (out->dir / "m").string()});
    out->db = out->dir / "s.db";
    out->scan = test::run_command({test::binscan_binary().string(), "scan",
                                   (test::photos_dir() / "trash-bin").string(), "--model",
                                   (out->dir / "m").string(), "--db", out->db.string(),
                                   "--bin-label", "class_3", "--threshold", "0", "--quiet"});
    return out;
  }();
  return *s;
}

TEST(LocateCli, BinsSitWhereTheirPhotosLookAndTheMapDrawsThem) {
  const auto& s = survey();
  ASSERT_EQ(s.scan.exit_code, 0) << s.scan.err;
  test::TempDir dir;
  const auto geojson = dir / "bins.geojson", csv = dir / "bins.csv", html = dir / "map.html";
  const auto r =
      test::run_command({test::binscan_binary().string(), "locate", "--db", s.db.string(),
                         "--declination", "1.9", "--distance", "8", "--geojson", geojson.string(),
                         "--csv", csv.string(), "--html", html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("25 photos classified by"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("25 bearings are magnetic; corrected by 1.9 degrees"), std::string::npos)
      << r.out;

  std::vector<std::string> args{geojson.string(), csv.string(), "8", "1.9", "25"};
  const fs::path chromium = "/usr/bin/chromium";
  if (fs::exists(chromium)) {
    const auto page = test::run_command(
        {chromium.string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync",
         // The map asks for OpenStreetMap tiles: no host resolves, so no test touches the internet.
         "--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=" + (dir / "profile").string(),
         "--enable-logging=stderr", "--v=0", "--dump-dom", "file://" + html.string()});
    ASSERT_EQ(page.exit_code, 0) << page.err;
    EXPECT_EQ(page.err.find(":CONSOLE"), std::string::npos) << page.err;
    std::ofstream(dir / "dom.html") << page.out;
    args.push_back((dir / "dom.html").string());
  }
  const auto check = test::run_python("locate_check.py", args);
  ASSERT_EQ(check.out.rfind("ok ", 0), 0u) << check.err;
  // The summary names as many bins as the files hold.
  EXPECT_NE(r.out.find("located " + check.out.substr(3, check.out.size() - 4) + " bins"),
            std::string::npos)
      << r.out;
  if (!fs::exists(chromium)) {
    GTEST_SKIP() << "chromium is not installed: the map was not opened";
  }
  // Driven as a person would, offline: every bin of the real survey opens its photos.
  if (test::browser_installed()) {
    const fs::path artefacts = test::source_dir() / "build" / "test-artifacts";
    fs::create_directories(artefacts);
    const std::string bins = check.out.substr(3, check.out.size() - 4);
    const auto driven = test::run_python("map_page_check.py",
                                         {"file://" + html.string(), "--bins", bins, "--screenshot",
                                          (artefacts / "locate-map.png").string()});
    EXPECT_EQ(driven.out, "ok " + bins + "\n") << driven.err;
  } else if (test::browser_required()) {
    ADD_FAILURE() << "chromium-driver is not installed: the map was not driven";
  }
}

// A registry made from the located bins themselves, each moved 3 m north, plus one bin in a
// photo's view that nothing found and one far away: every located bin matches its own (precision
// 100%), the one in view is missed (recall n/(n+1)), and every output says so.
TEST(LocateCli, HeldAgainstARegistryWithAMissAndAnExtra) {
  const auto& s = survey();
  ASSERT_EQ(s.scan.exit_code, 0) << s.scan.err;
  test::TempDir dir;
  const auto plain = dir / "plain.geojson";
  ASSERT_EQ(
      test::run_binscan({"locate", "--db", s.db.string(), "--geojson", plain.string()}).exit_code,
      0);
  const auto located = nlohmann::json::parse(read_text_file(plain));
  const auto deg = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9f", v);
    return std::string(buf);
  };
  std::string csv = "name,lat,lon\n";
  int bins = 0;
  double cam_lat = 0, cam_lon = 0, bearing = 0;
  for (const auto& f : located["features"]) {
    const auto& c = f["geometry"]["coordinates"];
    if (f["properties"]["kind"] == "bin") {
      ++bins;
      // 3 m north: 3 / 111,195 degrees of latitude.
      csv += "reg" + std::to_string(bins) + "," + deg(c[1].get<double>() + 3 / 111195.0) + "," +
             std::to_string(c[0].get<double>()) + "\n";
    } else if (f["properties"]["kind"] == "sighting" && bearing == 0) {
      cam_lon = c[0][0].get<double>();
      cam_lat = c[0][1].get<double>();
      bearing = f["properties"]["bearing_true"].get<double>();
    }
  }
  ASSERT_GT(bins, 0);
  // 30 m ahead of the first camera (farther than any bin's 8 m projection + 15 m radius).
  const double rad = bearing * 3.14159265358979 / 180;
  csv +=
      "unseen," + deg(cam_lat + 30 * std::cos(rad) / 111195.0) + "," +
      deg(cam_lon + 30 * std::sin(rad) / (111195.0 * std::cos(cam_lat * 3.14159265358979 / 180))) +
      "\n";
  csv += "elsewhere,52.3731,4.8922\n";  // Amsterdam
  std::ofstream(dir / "registry.csv") << csv;
  const auto out_csv = dir / "bins.csv", out_geo = dir / "bins.geojson",
             out_html = dir / "map.html";
  const auto r = test::run_binscan({"locate", "--db", s.db.string(), "--registry",
                                    (dir / "registry.csv").string(), "--csv", out_csv.string(),
                                    "--geojson", out_geo.string(), "--html", out_html.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string n = std::to_string(bins);
  EXPECT_NE(r.out.find("registry: " + std::to_string(bins + 2) + " bins; " + n + " matched"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("1 missed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 not covered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("precision 100%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missed: registry unseen"), std::string::npos) << r.out;
  const auto geo = nlohmann::json::parse(read_text_file(out_geo));
  int matched = 0;
  for (const auto& f : geo["features"]) {
    if (f["properties"]["kind"] != "registry" || f["properties"]["status"] != "matched") continue;
    ++matched;
    EXPECT_NEAR(f["properties"]["distance_m"].get<double>(), 3.0, 0.01);
  }
  EXPECT_EQ(matched, bins);
  const std::string table = read_text_file(out_csv);
  EXPECT_NE(table.find(",registry_id,registry_distance_m"), std::string::npos);
  EXPECT_NE(table.find(",reg1,3.0"), std::string::npos) << table;
  const std::string html = read_text_file(out_html);
  EXPECT_NE(html.find("id=\"registry-summary\" data-matches=\"" + n + "\" data-missed=\"1\""),
            std::string::npos);
  const auto data = test::map_page_data(html);
  std::map<std::string, int> shown;
  for (const auto& reg : data["registry"]) ++shown[reg["status"].get<std::string>()];
  EXPECT_EQ(shown["matched"], bins);
  EXPECT_EQ(shown["missed"], 1);
  EXPECT_EQ(shown["outside"], 1);
}

// --aim-with: each photo's ray turned to its occlusion peak. Every sighting gets an angle
// inside its field of view, the summary names the aimed photos, and a photo without a bearing
// or whose file changed keeps today's behaviour.
TEST(LocateCli, AimWithAModelTurnsEachRayToWhereTheModelLooks) {
  const auto& s = survey();
  ASSERT_EQ(s.scan.exit_code, 0) << s.scan.err;
  test::TempDir dir;
  const auto geojson = dir / "aimed.geojson";
  const auto r = test::run_binscan({"locate", "--db", s.db.string(), "--aim-with",
                                    (s.dir / "m").string(), "--aim-label", "class_3", "--aim-patch",
                                    "48", "--aim-stride", "44", "--geojson", geojson.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("aimed off-axis: "), std::string::npos) << r.out;
  const auto g = nlohmann::json::parse(read_text_file(geojson));
  int aimed = 0;
  for (const auto& f : g["features"]) {
    if (f["properties"]["kind"] != "sighting" || f["properties"]["aim_deg"].is_null()) continue;
    ++aimed;
    EXPECT_LE(std::fabs(f["properties"]["aim_deg"].get<double>()),
              f["properties"]["fov_deg"].get<double>() / 2 + 1e-9);
  }
  EXPECT_GT(aimed, 0);
  const auto bad = test::run_binscan({"locate", "--db", s.db.string(), "--aim-with",
                                      (s.dir / "m").string(), "--aim-label", "no such label"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--aim-label"), std::string::npos) << bad.err;
}

TEST(LocateCli, AStricterThresholdCanLeaveNothingToPlace) {
  const auto& s = survey();
  ASSERT_EQ(s.scan.exit_code, 0) << s.scan.err;
  // Judged again at 1.0 nothing is a bin: no sightings.
  test::TempDir dir;
  const auto r =
      test::run_command({test::binscan_binary().string(), "locate", "--db", s.db.string(),
                         "--threshold", "1", "--html", (dir / "m.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("; 0 show a bin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("located 0 bins"), std::string::npos) << r.out;
  std::ifstream in(dir / "m.html");
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // No bins on the map, but the 25 places the photos were taken.
  const auto data = test::map_page_data(page);
  EXPECT_EQ(data["bins"].size(), 0u);
  EXPECT_EQ(data["nobin"].size(), 25u);
}

TEST(LocateCli, BadInputIsOneLineAndAnError) {
  test::TempDir dir;
  const auto missing = test::run_command(
      {test::binscan_binary().string(), "locate", "--db", (dir / "none.db").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("none.db"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  const auto& s = survey();
  const auto wrong_model = test::run_command({test::binscan_binary().string(), "locate", "--db",
                                              s.db.string(), "--models", "no-such-model"});
  EXPECT_NE(wrong_model.exit_code, 0);
  EXPECT_NE(wrong_model.err.find("no-such-model"), std::string::npos) << wrong_model.err;
  const auto bad_fov = test::run_command(
      {test::binscan_binary().string(), "locate", "--db", s.db.string(), "--fov", "0"});
  EXPECT_NE(bad_fov.exit_code, 0);
}

}  // namespace
}  // namespace binscan

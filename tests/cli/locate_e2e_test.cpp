// binscan locate through the binary: the trash-bin photos (Pixel 4, EXIF GPS and magnetic
// bearings) scanned with a random-weight checkpoint at threshold 0 — every photo "shows a bin" —
// then located, and the outputs checked by tests/reference/locate_check.py against Pillow's EXIF
// and independent geometry; the map opened in headless Chromium.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "support/test_support.h"

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
         "--disable-sync", "--user-data-dir=" + (dir / "profile").string(),
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
  EXPECT_EQ(page.find("<circle class=\"bin"), std::string::npos);
  std::size_t dots = 0;
  for (auto at = page.find("<circle class=\"nobin\""); at != std::string::npos;
       at = page.find("<circle class=\"nobin\"", at + 1))
    ++dots;
  EXPECT_EQ(dots, 25u);
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

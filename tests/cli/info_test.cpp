// `binscan info` end to end: text and JSON Lines output, compared with Pillow's EXIF, and
// per-file errors that do not stop the other files.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

std::filesystem::path trash_bin_photo() {
  return test::photos_dir() / "trash-bin" / "PXL_20220119_105237021.jpg";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Pillow's view of the photo's EXIF (tests/reference/pil_images.py metadata).
nlohmann::json pillow_exif(const std::filesystem::path& photo) {
  test::TempDir dir;
  const auto r =
      test::run_python("pil_images.py", {"metadata", dir.path().string(), photo.string()});
  if (r.exit_code != 0) return nullptr;
  return nlohmann::json::parse(read_text_file(dir / "manifest.json")).at(0).at("exif");
}

TEST(CliInfo, TextOutputOfATrashBinPhoto) {
  const auto r =
      test::run_command({test::binscan_binary().string(), "info", trash_bin_photo().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind(trash_bin_photo().string() + "\n", 0), 0u) << r.out;
  for (const char* expected :
       {"JPEG (image/jpeg)", "1500x2000", "upright as stored", "51.9984528, 4.3812222",
        "altitude 51.4 m", "352.0° magnetic north (M)", "2022-01-19T11:52:37", "Google Pixel 4",
        "27 mm equivalent"}) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << "\n" << r.out;
  }
}

TEST(CliInfo, JsonLinesMatchPillowExif) {
  const auto photo = trash_bin_photo();
  const auto r = test::run_command(
      {test::binscan_binary().string(), "info", "--format", "json", photo.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 1u);
  const auto j = nlohmann::json::parse(lines[0]);
  const auto pil = pillow_exif(photo);
  ASSERT_FALSE(pil.is_null());
  EXPECT_EQ(j.at("path"), photo.string());
  EXPECT_EQ(j.at("format"), "JPEG");
  EXPECT_EQ(j.at("width"), 1500);
  EXPECT_EQ(j.at("height"), 2000);
  // Full-precision doubles: the same value as Pillow's rationals converted in Python.
  EXPECT_EQ(j.at("latitude").get<double>(), pil.at("latitude").get<double>());
  EXPECT_EQ(j.at("longitude").get<double>(), pil.at("longitude").get<double>());
  EXPECT_EQ(j.at("altitude_m").get<double>(), pil.at("altitude_m").get<double>());
  EXPECT_EQ(j.at("bearing_deg").get<double>(), pil.at("bearing_deg").get<double>());
  EXPECT_EQ(j.at("bearing_ref"), pil.at("bearing_ref"));
  EXPECT_EQ(j.at("taken_at"), pil.at("taken_at"));
  EXPECT_EQ(j.at("make"), pil.at("make"));
  EXPECT_EQ(j.at("model"), pil.at("model"));
  EXPECT_EQ(j.at("focal_length_35mm"), pil.at("focal_length_35mm"));
  EXPECT_TRUE(j.at("gps_time_utc").is_null());  // these photos have GPSDateStamp only
  EXPECT_EQ(j.at("warnings"), nlohmann::json::array());
}

TEST(CliInfo, OrientedSizeOfARotatedPhoto) {
  const auto photo = test::photos_dir() / "bike" / "20220119_175431.jpg";
  const auto r = test::run_command(
      {test::binscan_binary().string(), "info", "--format", "json", photo.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("orientation"), 6);
  EXPECT_EQ(j.at("width"), 3024);
  EXPECT_EQ(j.at("height"), 4032);
  EXPECT_EQ(j.at("stored_width"), 4032);
  EXPECT_EQ(j.at("stored_height"), 3024);
  EXPECT_TRUE(j.at("latitude").is_null());
}

TEST(CliInfo, BadFileAmongGoodOnesIsReportedAndTheOthersStillPrinted) {
  test::TempDir dir;
  const auto empty = dir / "empty.jpg";
  std::ofstream(empty).close();
  const auto good1 = trash_bin_photo();
  const auto good2 = test::photos_dir() / "coco-000000039769.jpeg";
  for (const char* format : {"json", "text"}) {
    SCOPED_TRACE(format);
    const auto r = test::run_command({test::binscan_binary().string(), "info", "--format", format,
                                      good1.string(), empty.string(), good2.string()});
    EXPECT_EQ(r.exit_code, 1);
    const auto err = lines_of(r.err);
    ASSERT_EQ(err.size(), 1u) << r.err;
    EXPECT_EQ(err[0].rfind("binscan: error: " + empty.string() + ": ", 0), 0u) << err[0];
    EXPECT_NE(err[0].find("empty"), std::string::npos);
    if (std::string(format) == "json") {
      const auto out = lines_of(r.out);
      ASSERT_EQ(out.size(), 2u) << r.out;
      EXPECT_EQ(nlohmann::json::parse(out[0]).at("path"), good1.string());
      EXPECT_EQ(nlohmann::json::parse(out[1]).at("path"), good2.string());
    } else {
      EXPECT_NE(r.out.find(good1.string()), std::string::npos);
      EXPECT_NE(r.out.find(good2.string()), std::string::npos);
    }
  }
}

TEST(CliInfo, DecodeFlagCatchesTruncatedPixelData) {
  test::TempDir dir;
  const auto bytes = read_file(trash_bin_photo());
  const auto cut = dir / "cut.jpg";
  std::ofstream(cut, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size() / 2));
  const auto quick = test::run_command({test::binscan_binary().string(), "info", cut.string()});
  EXPECT_EQ(quick.exit_code, 0) << "headers and EXIF are intact";
  const auto full =
      test::run_command({test::binscan_binary().string(), "info", "--decode", cut.string()});
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find(cut.string() + ": truncated JPEG data"), std::string::npos) << full.err;
}

TEST(CliInfo, UsageErrors) {
  const auto none = test::run_command({test::binscan_binary().string(), "info"});
  EXPECT_NE(none.exit_code, 0);
  const auto bad_format = test::run_command(
      {test::binscan_binary().string(), "info", "--format", "xml", trash_bin_photo().string()});
  EXPECT_NE(bad_format.exit_code, 0);
  EXPECT_EQ(bad_format.out, "");
}

}  // namespace
}  // namespace binscan

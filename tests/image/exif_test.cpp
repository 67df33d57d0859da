// EXIF: the fields binscan exposes equal what Pillow's getexif() reports for the shared photos,
// and broken EXIF never makes an image unreadable.
#include "image/exif.h"

#include <gtest/gtest.h>

#include <cstring>

#include "image/decode.h"
#include "pil_reference.h"
#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

template <typename T>
void expect_optional_eq(const std::optional<T>& ours, const nlohmann::json& pil, const char* what) {
  if (pil.is_null()) {
    EXPECT_FALSE(ours.has_value()) << what;
  } else {
    ASSERT_TRUE(ours.has_value()) << what;
    EXPECT_EQ(*ours, pil.get<T>()) << what;
  }
}

TEST(ExifPhotos, FieldsEqualPillowGetexifForEveryPhoto) {
  const auto photos = test::all_photos();
  test::TempDir dir;
  const auto refs = test::pil_metadata(dir.path(), photos);
  ASSERT_EQ(refs.size(), photos.size());
  int with_gps = 0, with_bearing = 0, with_gps_time = 0;
  for (const auto& ref : refs) {
    SCOPED_TRACE(ref.path.string());
    ASSERT_TRUE(ref.ok) << ref.error;
    ASSERT_FALSE(ref.exif.is_null());
    const ImageInfo info = probe_image_file(ref.path);
    const Exif& e = info.exif;
    const auto& p = ref.exif;
    EXPECT_EQ(info.width, ref.width);
    EXPECT_EQ(info.height, ref.height);
    EXPECT_EQ(info.stored_width, ref.stored_width);
    expect_optional_eq(e.make, p.at("make"), "make");
    expect_optional_eq(e.model, p.at("model"), "model");
    expect_optional_eq(e.taken_at, p.at("taken_at"), "taken_at");
    expect_optional_eq(e.focal_length_35mm, p.at("focal_length_35mm"), "focal35");
    expect_optional_eq(e.bearing_deg, p.at("bearing_deg"), "bearing");
    expect_optional_eq(e.gps_time_utc, p.at("gps_time_utc"), "gps time");
    if (p.at("bearing_ref").is_null()) {
      EXPECT_FALSE(e.bearing_ref.has_value());
    } else {
      ASSERT_TRUE(e.bearing_ref.has_value());
      EXPECT_EQ(std::string(1, *e.bearing_ref), p.at("bearing_ref").get<std::string>());
    }
    if (p.at("latitude").is_null()) {
      EXPECT_FALSE(e.gps.has_value());
    } else {
      ASSERT_TRUE(e.gps.has_value());
      // Same double operations as the Python conversion: exactly equal.
      EXPECT_EQ(e.gps->latitude, p.at("latitude").get<double>());
      EXPECT_EQ(e.gps->longitude, p.at("longitude").get<double>());
      expect_optional_eq(e.gps->altitude_m, p.at("altitude_m"), "altitude");
      ++with_gps;
    }
    with_bearing += e.bearing_deg.has_value();
    with_gps_time += e.gps_time_utc.has_value();
  }
  EXPECT_GE(with_gps, 25);  // every trash-bin photo is geotagged
  EXPECT_GE(with_bearing, 25);
  EXPECT_GE(with_gps_time, 2);  // the Pixel bike photos carry GPSTimeStamp
}

TEST(ExifPhotos, ProbeAgreesWithFullDecode) {
  for (const auto& photo : test::all_photos()) {
    if (photo.parent_path().filename() != "trash-bin") continue;
    SCOPED_TRACE(photo.string());
    const ImageInfo info = probe_image_file(photo);
    const DecodedImage d = load_image(photo);
    EXPECT_EQ(info.width, d.image.width);
    EXPECT_EQ(info.height, d.image.height);
    EXPECT_EQ(info.exif.taken_at, d.exif.taken_at);
    EXPECT_EQ(info.exif.bearing_deg, d.exif.bearing_deg);
  }
}

// Broken EXIF segments inside otherwise fine JPEGs (pil_images.py exif_malformed): the image
// still decodes, the problem is reported as a warning, and wherever Pillow's exif_transpose
// copes the pixels (hence the orientation used) are the same as Pillow's.
TEST(ExifMalformed, ImagesStillDecodeWithAWarning) {
  test::TempDir dir;
  const auto refs = test::pil_generate(dir.path(), "exif_malformed");
  ASSERT_GE(refs.size(), 12u);
  for (const auto& ref : refs) {
    const std::string name = ref.path.filename().string();
    SCOPED_TRACE(name);
    DecodedImage d;
    ASSERT_NO_THROW(d = load_image(ref.path));
    const bool clean = name == "exif_orientation_count2.jpg" || name == "exif_empty.jpg";
    if (clean) {
      EXPECT_TRUE(d.warnings.empty());
    } else {
      ASSERT_FALSE(d.warnings.empty());
      EXPECT_NE(d.warnings.front().find("EXIF"), std::string::npos) << d.warnings.front();
    }
    if (ref.ok && !ref.exif_error) {
      EXPECT_EQ(test::compare_with_reference(d.image, ref), "");
    } else {
      EXPECT_EQ(d.exif.orientation, 1);  // Pillow failed; we ignore what we cannot read
    }
  }
}

// ---- parse_exif on hand-built blocks

struct TiffBuilder {
  std::vector<std::uint8_t> bytes;
  bool little = true;
  void u16(std::uint32_t v) {
    if (little) {
      bytes.push_back(v & 0xFF);
      bytes.push_back((v >> 8) & 0xFF);
    } else {
      bytes.push_back((v >> 8) & 0xFF);
      bytes.push_back(v & 0xFF);
    }
  }
  void u32(std::uint32_t v) {
    if (little) {
      u16(v & 0xFFFF);
      u16(v >> 16);
    } else {
      u16(v >> 16);
      u16(v & 0xFFFF);
    }
  }
  void header() {
    bytes.insert(bytes.end(), {std::uint8_t(little ? 'I' : 'M'), std::uint8_t(little ? 'I' : 'M')});
    u16(42);
    u32(8);
  }
  // entry whose value fits in 4 bytes (already laid out) or points at `offset`
  void entry(std::uint16_t tag, std::uint16_t type, std::uint32_t count, std::uint32_t value) {
    u16(tag);
    u16(type);
    u32(count);
    u32(value);
  }
  void entry_short(std::uint16_t tag, std::uint16_t v) {
    u16(tag);
    u16(3);
    u32(1);
    u16(v);
    u16(0);
  }
  void entry_ascii4(std::uint16_t tag, const char (&s)[4]) {
    u16(tag);
    u16(2);
    u32(4);
    bytes.insert(bytes.end(), s, s + 4);
  }
  std::uint32_t size() const { return static_cast<std::uint32_t>(bytes.size()); }
};

// A GPS block: IFD0 { GPS pointer } -> GPS IFD with S/W refs, altitude below sea level,
// magnetic bearing, date and time.
std::vector<std::uint8_t> gps_block(bool little) {
  TiffBuilder b;
  b.little = little;
  b.header();
  const std::uint32_t gps_ifd = 8 + 2 + 12 + 4;
  const std::uint32_t n = 9;
  const std::uint32_t data = gps_ifd + 2 + 12 * n + 4;
  b.u16(1);
  b.entry(0x8825, 4, 1, gps_ifd);
  b.u32(0);
  b.u16(n);
  b.entry_ascii4(1, "S\0\0");
  b.entry(2, 5, 3, data);
  b.entry_ascii4(3, "W\0\0");
  b.entry(4, 5, 3, data + 24);
  b.u16(5);  // altitude ref: BYTE 1 = below sea level
  b.u16(1);
  b.u32(1);
  b.u32(little ? 1u : 0x01000000u);
  b.entry(6, 5, 1, data + 48);
  b.entry(7, 5, 3, data + 56);
  b.entry_ascii4(16, "M\0\0");
  b.entry(17, 5, 1, data + 80);
  b.u32(0);
  // GPSDateStamp (29) is 11 bytes: add it as a 10th entry would shift offsets; keep it simple
  // and append the rationals: lat 33/1 51/1 5406/100, lon 151/1 12/1 3000/1000
  for (std::uint32_t v : {33u, 1u, 51u, 1u, 5406u, 100u, 151u, 1u, 12u, 1u, 3000u, 1000u}) b.u32(v);
  for (std::uint32_t v : {125u, 10u}) b.u32(v);                    // altitude 12.5
  for (std::uint32_t v : {23u, 1u, 59u, 1u, 595u, 10u}) b.u32(v);  // 23:59:59.5
  for (std::uint32_t v : {7201u, 20u}) b.u32(v);                   // bearing 360.05 -> invalid
  return b.bytes;
}

TEST(ParseExif, GpsWithSouthWestBelowSeaLevelBothByteOrders) {
  for (bool little : {true, false}) {
    SCOPED_TRACE(little ? "II" : "MM");
    std::vector<std::string> warnings;
    const Exif e = parse_exif(gps_block(little), &warnings);
    ASSERT_TRUE(e.gps.has_value());
    EXPECT_DOUBLE_EQ(e.gps->latitude, -(33.0 + 51.0 / 60 + 54.06 / 3600));
    EXPECT_DOUBLE_EQ(e.gps->longitude, -(151.0 + 12.0 / 60 + 3.0 / 3600));
    ASSERT_TRUE(e.gps->altitude_m.has_value());
    EXPECT_DOUBLE_EQ(*e.gps->altitude_m, -12.5);
    EXPECT_FALSE(e.bearing_deg.has_value());  // 360.05 is out of range ...
    ASSERT_EQ(warnings.size(), 1u);           // ... and said so
    EXPECT_NE(warnings[0].find("direction"), std::string::npos);
    EXPECT_FALSE(e.gps_time_utc.has_value());  // a time without GPSDateStamp is not a time
    EXPECT_EQ(e.orientation, 1);
  }
}

TEST(ParseExif, AcceptsTheExifPrefixAndIgnoresGarbage) {
  auto block = gps_block(true);
  std::vector<std::uint8_t> prefixed{'E', 'x', 'i', 'f', 0, 0};
  prefixed.insert(prefixed.end(), block.begin(), block.end());
  EXPECT_TRUE(parse_exif(prefixed, nullptr).gps.has_value());

  std::vector<std::string> warnings;
  const std::uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(parse_exif(junk, &warnings).orientation, 1);
  EXPECT_EQ(warnings.size(), 1u);
  EXPECT_EQ(parse_exif({}, nullptr).orientation, 1);
}

TEST(ParseExif, EveryTruncationOfAValidBlockIsSafe) {
  // Cutting the block anywhere must never read out of bounds (ASan checks) nor throw.
  const auto block = gps_block(false);
  for (std::size_t n = 0; n <= block.size(); ++n) {
    std::vector<std::uint8_t> cut(block.begin(), block.begin() + n);  // exact-size heap copy
    std::vector<std::string> warnings;
    EXPECT_NO_THROW(parse_exif(cut, &warnings));
  }
}

TEST(ParseExif, DateTimeMakeModelFocal) {
  TiffBuilder b;
  b.header();
  const std::uint32_t exif_ifd = 8 + 2 + 12 * 4 + 4;
  const std::uint32_t strings = exif_ifd + 2 + 12 * 2 + 4;
  b.u16(4);
  b.entry(0x010F, 2, 8, strings);     // Make "Maker\0\0\0" with padding
  b.entry(0x0110, 2, 4, 0x00585A59);  // Model "YZX\0" inline (little-endian bytes Y Z X 0)
  b.entry_short(0x0112, 8);
  b.entry(0x8769, 4, 1, exif_ifd);
  b.u32(0);
  b.u16(2);
  b.entry(0x9003, 2, 20, strings + 8);
  b.entry_short(0xA405, 28);
  b.u32(0);
  for (char c : std::string("Maker  \0", 8)) b.bytes.push_back(static_cast<std::uint8_t>(c));
  for (char c : std::string("2022:01:19 11:52:37\0", 20))
    b.bytes.push_back(static_cast<std::uint8_t>(c));
  std::vector<std::string> warnings;
  const Exif e = parse_exif(b.bytes, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(e.make, "Maker");
  EXPECT_EQ(e.model, "YZX");
  EXPECT_EQ(e.orientation, 8);
  EXPECT_EQ(e.taken_at, "2022-01-19T11:52:37");
  EXPECT_EQ(e.focal_length_35mm, 28);
}

}  // namespace
}  // namespace binscan

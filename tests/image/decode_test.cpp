// Decoded pixels must equal what transformers' load_image gets from Pillow:
// Image.open -> ImageOps.exif_transpose -> convert("RGB"), byte for byte.
#include "image/decode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "pil_reference.h"
#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

using test::PilReference;

std::string format_of(const DecodedImage& d) { return std::string(format_name(d.format)); }

// Pillow's orientation as binscan reports it: 1..8, anything else (absent, 0, 9, bytes) is 1.
int expected_orientation(const PilReference& ref) {
  if (ref.exif.is_null() || !ref.exif.at("orientation").is_number_integer()) return 1;
  const int o = ref.exif.at("orientation").get<int>();
  return o >= 1 && o <= 8 ? o : 1;
}

// Decodes every file of a generated group and compares with Pillow. Returns the decoded images
// by file name for further checks.
std::map<std::string, DecodedImage> check_group(const std::string& group) {
  test::TempDir dir;
  const auto refs = test::pil_generate(dir.path(), group);
  EXPECT_FALSE(refs.empty());
  std::map<std::string, DecodedImage> decoded;
  for (const auto& ref : refs) {
    SCOPED_TRACE(ref.path.filename().string());
    EXPECT_TRUE(ref.ok) << "Pillow failed: " << ref.error;
    if (!ref.ok) continue;
    DecodedImage d;
    try {
      d = load_image(ref.path);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    EXPECT_EQ(format_of(d), ref.format);
    EXPECT_EQ(d.stored_width, ref.stored_width);
    EXPECT_EQ(d.stored_height, ref.stored_height);
    if (!ref.exif_error) {
      EXPECT_EQ(d.exif.orientation, expected_orientation(ref));
    }
    EXPECT_EQ(test::compare_with_reference(d.image, ref), "");
    decoded.emplace(ref.path.filename().string(), std::move(d));
  }
  return decoded;
}

TEST(DecodePhotos, EverySharedPhotoMatchesPillowPixelExact) {
  const auto photos = test::all_photos();
  ASSERT_GE(photos.size(), 40u);
  test::TempDir dir;
  const auto refs = test::pil_decode(dir.path(), photos);
  ASSERT_EQ(refs.size(), photos.size());
  int rotated = 0;
  for (const auto& ref : refs) {
    SCOPED_TRACE(ref.path.string());
    ASSERT_TRUE(ref.ok) << ref.error;
    const DecodedImage d = load_image(ref.path);
    EXPECT_EQ(format_of(d), "JPEG");
    EXPECT_EQ(d.stored_width, ref.stored_width);
    EXPECT_EQ(d.stored_height, ref.stored_height);
    EXPECT_EQ(d.exif.orientation, expected_orientation(ref));
    EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
    EXPECT_EQ(test::compare_with_reference(d.image, ref), "");
    if (d.exif.orientation != 1) ++rotated;
    std::filesystem::remove(ref.raw);  // 12 MP references add up; keep the temp dir small
  }
  EXPECT_GE(rotated, 1) << "the bike photos include one with orientation 6";
}

TEST(DecodePng, EveryColourTypeAndBitDepthMatchesPillow) {
  const auto d = check_group("png");
  // 5 colour types x their depths x (plain, Adam7) + tRNS variants + Pillow-written files
  EXPECT_GE(d.size(), 15u * 2 + 6 + 6);
  for (const char* name :
       {"ct0_bd1.png", "ct0_bd2.png", "ct0_bd4.png", "ct0_bd8.png", "ct0_bd16.png", "ct2_bd8.png",
        "ct2_bd16.png", "ct3_bd1.png", "ct3_bd2.png", "ct3_bd4.png", "ct3_bd8.png", "ct4_bd8.png",
        "ct4_bd16.png", "ct6_bd8.png", "ct6_bd16.png", "palette_trns.png", "palette_short.png",
        "ct6_bd16_adam7.png"}) {
    EXPECT_TRUE(d.contains(name)) << name;
  }
}

TEST(DecodeJpeg, SubsamplingProgressiveGrayAndCmykMatchPillow) {
  const auto d = check_group("jpeg");
  EXPECT_TRUE(d.contains("gray.jpg"));
  EXPECT_TRUE(d.contains("cmyk_adobe.jpg"));
  EXPECT_TRUE(d.contains("rgb_sub2_prog.jpg"));
}

TEST(DecodeOrientation, AllEightOrientationsMatchExifTranspose) {
  const auto d = check_group("orientation");
  for (int o = 1; o <= 8; ++o) {
    for (const char* ext : {".jpg", ".png", ".webp"}) {
      const std::string name = "orient" + std::to_string(o) + ext;
      ASSERT_TRUE(d.contains(name)) << name;
      const auto& img = d.at(name);
      EXPECT_EQ(img.exif.orientation, o) << name;
      EXPECT_EQ(img.image.width, o >= 5 ? 5 : 17) << name;
    }
  }
  EXPECT_EQ(d.at("orient0.jpg").exif.orientation, 1);  // invalid values mean "as stored"
  EXPECT_EQ(d.at("orient9.png").exif.orientation, 1);
  EXPECT_EQ(d.at("orient6_motorola.jpg").exif.orientation, 6);
}

TEST(DecodeOrientation, DisabledKeepsTheStoredLayout) {
  test::TempDir dir;
  const auto refs = test::pil_generate(dir.path(), "orientation");
  const auto it = std::find_if(refs.begin(), refs.end(), [](const PilReference& r) {
    return r.path.filename() == "orient6.png";
  });
  ASSERT_NE(it, refs.end());
  DecodeOptions options;
  options.apply_orientation = false;
  const DecodedImage raw = load_image(it->path, options);
  EXPECT_EQ(raw.image.width, 17);
  EXPECT_EQ(raw.exif.orientation, 6);
  // ...and applying it afterwards gives what Pillow's exif_transpose gives.
  EXPECT_EQ(test::compare_with_reference(apply_exif_orientation(raw.image, 6), *it), "");
}

TEST(DecodeSizes, TinyAndOddSizesMatchPillow) {
  const auto d = check_group("sizes");
  for (const char* name :
       {"s1x1_sub0.jpg", "s1x1_sub2.jpg", "s1x1.png", "s1x1.webp", "s1x9_sub2.jpg", "s9x1_sub2.jpg",
        "s17x5_sub2.jpg", "s33x1.png", "s1x9_gray2_adam7.png"}) {
    EXPECT_TRUE(d.contains(name)) << name;
  }
}

TEST(DecodeWebp, LosslessLossyAlphaAndAnimatedMatchPillow) {
  const auto d = check_group("webp");
  EXPECT_EQ(d.size(), 5u);
}

TEST(DecodePngMetadata, ExifChunkRawProfileAndXmpOrientationAsPillow) {
  const auto d = check_group("png_metadata");
  EXPECT_EQ(d.at("exif_after_idat.png").exif.orientation, 6);
  EXPECT_EQ(d.at("exif_before_idat.png").exif.orientation, 3);
  EXPECT_EQ(d.at("raw_profile_exif.png").exif.orientation, 6);
  EXPECT_EQ(d.at("xmp_orientation.png").exif.orientation, 8);
  EXPECT_EQ(d.at("xmp_orientation_compressed.png").exif.orientation, 5);
  EXPECT_EQ(d.at("exif_and_xmp.png").exif.orientation, 6);
}

TEST(DecodeBigImage, TransposesOfA12MegapixelPhotoPlaceTheCornersRight) {
  // Orientation 6 of the 4032x3024 bike photo is compared with Pillow above and every orientation
  // on small images; here all seven transforms at 12 MP (many tiles, partial edge tiles), checked
  // by where the four corner pixels land.
  const auto photos = test::all_photos();
  const auto it = std::find_if(photos.begin(), photos.end(),
                               [](const auto& p) { return p.filename() == "20220119_175431.jpg"; });
  ASSERT_NE(it, photos.end());
  DecodeOptions options;
  options.apply_orientation = false;
  const Image src = load_image(*it, options).image;
  const int w = src.width, h = src.height;
  auto px = [](const Image& im, int x, int y) {
    const std::uint8_t* p = im.row(y) + 3 * x;
    return (p[0] << 16) | (p[1] << 8) | p[2];
  };
  for (int o = 2; o <= 8; ++o) {
    SCOPED_TRACE(o);
    const Image out = apply_exif_orientation(src, o);
    ASSERT_EQ(out.width, o >= 5 ? h : w);
    // Corners map as the TIFF orientation definitions say (row 0 / column 0 placement).
    const int W = out.width - 1, H = out.height - 1;
    const int tl = px(src, 0, 0), tr = px(src, w - 1, 0), bl = px(src, 0, h - 1),
              br = px(src, w - 1, h - 1);
    const std::map<int, std::array<int, 4>> corners = {
        {2, {tr, tl, br, bl}}, {3, {br, bl, tr, tl}}, {4, {bl, br, tl, tr}}, {5, {tl, bl, tr, br}},
        {6, {bl, tl, br, tr}}, {7, {br, tr, bl, tl}}, {8, {tr, br, tl, bl}}};
    const auto& c = corners.at(o);
    EXPECT_EQ(px(out, 0, 0), c[0]);
    EXPECT_EQ(px(out, W, 0), c[1]);
    EXPECT_EQ(px(out, 0, H), c[2]);
    EXPECT_EQ(px(out, W, H), c[3]);
  }
}

TEST(Sniff, RecognisesByContentNotExtension) {
  const std::uint8_t jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0};
  const std::uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  const std::uint8_t webp[] = {'R', 'I', 'F', 'F', 0,   0,   0,   0,
                               'W', 'E', 'B', 'P', 'V', 'P', '8', 'L'};
  const std::uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a'};
  EXPECT_EQ(sniff_format(jpeg), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_format(png), ImageFormat::kPng);
  EXPECT_EQ(sniff_format(webp), ImageFormat::kWebp);
  EXPECT_EQ(sniff_format(gif), std::nullopt);
  EXPECT_EQ(sniff_format({}), std::nullopt);
  EXPECT_EQ(format_name(ImageFormat::kWebp), "WEBP");
  EXPECT_EQ(mime_type(ImageFormat::kPng), "image/png");
}

}  // namespace
}  // namespace binscan

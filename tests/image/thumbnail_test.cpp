#include "image/thumbnail.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "image/decode.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

// Reads a binary PPM (P6) as written by Pillow.
Image read_ppm(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  int w = 0, h = 0, max = 0;
  in >> magic >> w >> h >> max;
  in.get();
  Image img(w, h);
  in.read(reinterpret_cast<char*>(img.pixels.data()),
          static_cast<std::streamsize>(img.pixels.size()));
  return img;
}

TEST(Thumbnail, UprightShrunkJpegLikePillowsBoxResize) {
  // The cats photo (upright) and every bike photo whose EXIF says it is rotated.
  std::vector<std::filesystem::path> photos{test::photos_dir() / "coco-000000039769.jpeg"};
  for (const auto& p : test::all_photos()) {
    if (p.parent_path().filename() == "bike" && probe_image_file(p).exif.orientation != 1) {
      photos.push_back(p);
    }
  }
  ASSERT_GE(photos.size(), 2u) << "expected a photo with an EXIF orientation among the bikes";
  test::TempDir dir;
  for (const auto& photo : photos) {
    const auto bytes = read_file(photo);
    const auto jpeg = make_thumbnail_jpeg(bytes, photo.string(), {160, 90});
    ASSERT_EQ(sniff_format(jpeg), ImageFormat::kJpeg);
    const Image thumb = decode_image(jpeg, "thumbnail").image;
    EXPECT_EQ(std::max(thumb.width, thumb.height), 160) << photo;
    const auto ref = test::run_python("thumbnail_reference.py",
                                      {photo.string(), std::to_string(thumb.width),
                                       std::to_string(thumb.height), (dir / "ref.ppm").string()});
    int uw = 0, uh = 0;
    std::istringstream(ref.out) >> uw >> uh;
    // Upright: the aspect ratio of Pillow's exif_transpose result (portrait stays portrait).
    EXPECT_EQ(thumb.width > thumb.height, uw > uh) << photo;
    EXPECT_NEAR(static_cast<double>(thumb.width) / thumb.height, static_cast<double>(uw) / uh, 0.02)
        << photo;
    const Image want = read_ppm(dir / "ref.ppm");
    ASSERT_EQ(want.width, thumb.width);
    ASSERT_EQ(want.height, thumb.height);
    double diff = 0;
    for (std::size_t i = 0; i < want.pixels.size(); ++i) {
      diff += std::abs(int(want.pixels[i]) - int(thumb.pixels[i]));
    }
    // DCT-scaled decoding and JPEG quality 90 differ from Pillow's full decode + box filter by a
    // few levels on average; a wrong orientation or a shifted image would differ by tens.
    EXPECT_LT(diff / static_cast<double>(want.pixels.size()), 6.0) << photo;
  }
}

TEST(Thumbnail, SmallImagesKeepTheirSize) {
  Image img(40, 20);
  for (std::size_t i = 0; i < img.pixels.size(); ++i)
    img.pixels[i] = static_cast<std::uint8_t>(i * 13);
  EXPECT_EQ(shrink_to_fit(img, 100).width, 40);
  const Image half = shrink_to_fit(img, 20);
  EXPECT_EQ(half.width, 20);
  EXPECT_EQ(half.height, 10);
  // A 2x2 box average of the top-left block.
  const int expect = (img.pixels[0] + img.pixels[3] + img.pixels[120] + img.pixels[123] + 2) / 4;
  EXPECT_EQ(half.pixels[0], expect);
}

}  // namespace
}  // namespace binscan

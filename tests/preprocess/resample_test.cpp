// resize_like_pillow against Pillow 9.4's Image.resize(..., reducing_gap=None), byte for byte.
#include "preprocess/resample.h"

#include <gtest/gtest.h>

#include "pil_jobs.h"
#include "preprocess/processor.h"

namespace binscan {
namespace {

using test::first_difference;
using test::PilJobs;
using test::test_image;

constexpr Resample kAllFilters[] = {Resample::kNearest, Resample::kLanczos, Resample::kBilinear,
                                    Resample::kBicubic, Resample::kBox,     Resample::kHamming};

struct Case {
  int w, h, ow, oh;
};

// Runs every case with every filter through Pillow and through both kernel paths.
void check_cases(const std::vector<Case>& cases, int orientation = 1) {
  PilJobs jobs;
  struct Pending {
    Image src;
    Case c;
    Resample f;
    std::size_t job;
  };
  std::vector<Pending> pending;
  unsigned seed = 1;
  for (const auto& c : cases) {
    Image src = test_image(c.w, c.h, seed++);
    for (const auto f : kAllFilters) {
      const auto job = jobs.add_resize(src, orientation, c.ow, c.oh, static_cast<int>(f));
      pending.push_back({src, c, f, job});
    }
  }
  ASSERT_TRUE(jobs.run());
  for (const auto& p : pending) {
    const Image expected = jobs.image(p.job);
    for (const bool scalar : {false, true}) {
      detail::set_resample_force_scalar(scalar);
      const Image got = resize_oriented_like_pillow(p.src, orientation, p.c.ow, p.c.oh, p.f);
      detail::set_resample_force_scalar(false);
      EXPECT_EQ(first_difference(got, expected), "")
          << p.c.w << "x" << p.c.h << " -> " << p.c.ow << "x" << p.c.oh << " " << resample_name(p.f)
          << " orientation " << orientation << (scalar ? " (scalar)" : " (simd)");
    }
  }
}

TEST(ResizeLikePillow, DownscaleAllFilters) {
  check_cases({{37, 23, 11, 7},
               {640, 480, 224, 224},
               {640, 480, 292, 219},
               {301, 199, 17, 100},
               {1000, 750, 256, 341},
               {100, 100, 99, 98},
               {4000, 3, 7, 2}});
}

TEST(ResizeLikePillow, UpscaleAllFilters) {
  check_cases({{37, 23, 100, 61}, {7, 5, 224, 224}, {2, 2, 9, 3}, {50, 60, 51, 61}});
}

TEST(ResizeLikePillow, MixedAndOneAxisUnchanged) {
  // An unchanged axis skips its pass in Pillow.
  check_cases({{64, 48, 64, 20},
               {64, 48, 17, 48},
               {64, 48, 130, 48},
               {64, 48, 64, 96},
               {40, 300, 120, 30},
               {224, 224, 224, 224}});
}

TEST(ResizeLikePillow, TinyAndDegenerateSizes) {
  check_cases({{1, 1, 1, 1},
               {1, 1, 5, 3},
               {1, 17, 3, 5},
               {17, 1, 4, 9},
               {5, 7, 1, 1},
               {1, 300, 1, 224},
               {300, 1, 224, 1},
               {3, 3, 2, 2},
               {2, 1, 1, 1}});
}

// exif_transpose followed by resize, computed from the stored pixels.
class ResizeOrientedLikePillow : public ::testing::TestWithParam<int> {};

TEST_P(ResizeOrientedLikePillow, MatchesTransposeThenResize) {
  check_cases({{53, 31, 20, 17}, {31, 53, 40, 60}, {120, 90, 90, 120}, {33, 21, 33, 21}},
              GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllOrientations, ResizeOrientedLikePillow, ::testing::Range(1, 9));

TEST(ResampleWindow, EqualsTheSameRegionOfTheFullResize) {
  const Image src = test_image(211, 157, 7);
  for (const int orientation : {1, 6}) {
    for (const auto f : kAllFilters) {
      const Image full = resize_oriented_like_pillow(src, orientation, 90, 70, f);
      const detail::Window win{13, 9, 61, 52};
      const Image part = detail::resample_window(src, orientation, 90, 70, f, win);
      ASSERT_EQ(part.width, win.width());
      ASSERT_EQ(part.height, win.height());
      for (int y = 0; y < part.height; ++y) {
        for (int x = 0; x < part.width * 3; ++x) {
          ASSERT_EQ(part.row(y)[x], full.row(y + win.y0)[3 * win.x0 + x])
              << resample_name(f) << " orientation " << orientation << " at " << x / 3 << "," << y;
        }
      }
    }
  }
}

TEST(PillowCoeffs, WeightsSumToOneInFixedPoint) {
  // Normalised weights are each rounded, so the sum is within a few units of 2^22, and the taps
  // stay inside the input.
  for (const auto f : {Resample::kLanczos, Resample::kBilinear, Resample::kBicubic, Resample::kBox,
                       Resample::kHamming}) {
    const auto c = detail::pillow_coeffs(4032, 341, f);
    ASSERT_EQ(c.out_size(), 341);
    for (int o = 0; o < c.out_size(); ++o) {
      std::int64_t sum = 0;
      for (int j = 0; j < c.count[o]; ++j) sum += c.k[static_cast<std::size_t>(o) * c.ksize + j];
      EXPECT_NEAR(static_cast<double>(sum), 1 << detail::kPrecisionBits, 8.0);
      EXPECT_GE(c.start[o], 0);
      EXPECT_LE(c.start[o] + c.count[o], 4032);
    }
  }
}

// Real photos, decoded by Pillow (so this does not depend on binscan's decoder): the resizes the
// two hub models perform, on full-size camera images.
TEST(ResizeLikePillow, FullSizePhotos) {
  std::vector<std::filesystem::path> photos;
  for (const auto& p : test::all_photos()) {
    const auto s = p.string();
    if (s.find("20220119_174030") != std::string::npos ||
        s.find("PXL_20210417") != std::string::npos ||
        s.find("PXL_20220119_105237021") != std::string::npos ||
        s.find("coco-") != std::string::npos) {
      photos.push_back(p);
    }
  }
  ASSERT_GE(photos.size(), 3u) << "shared photos missing under " << test::photos_dir();
  PilJobs decode;
  for (const auto& p : photos) decode.add_decode(p, true);
  ASSERT_TRUE(decode.run());
  PilJobs jobs;
  struct Pending {
    std::size_t photo;
    int ow, oh;
    Resample f;
    std::size_t job;
  };
  std::vector<Pending> pending;
  std::vector<Image> sources;
  for (std::size_t i = 0; i < photos.size(); ++i) {
    sources.push_back(decode.image(i));
    const Image& src = sources.back();
    const int w = src.width, h = src.height;
    // ViT: 224x224 bilinear; ResNet: shortest edge 256 bicubic; plus the other filters.
    const int ow = w <= h ? 256 : static_cast<int>(256.0 * w / h);
    const int oh = w <= h ? static_cast<int>(256.0 * h / w) : 256;
    for (const auto f : kAllFilters) {
      pending.push_back({i, 224, 224, f, jobs.add_resize(src, 1, 224, 224, static_cast<int>(f))});
    }
    pending.push_back({i, ow, oh, Resample::kBicubic,
                       jobs.add_resize(src, 1, ow, oh, static_cast<int>(Resample::kBicubic))});
  }
  ASSERT_TRUE(jobs.run());
  for (const auto& p : pending) {
    const Image got = resize_like_pillow(sources[p.photo], p.ow, p.oh, p.f);
    EXPECT_EQ(first_difference(got, jobs.image(p.job)), "")
        << photos[p.photo] << " -> " << p.ow << "x" << p.oh << " " << resample_name(p.f);
  }
}

}  // namespace
}  // namespace binscan

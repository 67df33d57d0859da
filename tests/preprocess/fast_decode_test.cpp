// --fast-decode: JPEGs decoded with libjpeg's DCT scaling to the coarsest scale the processor
// accepts, then preprocessed as usual. Checked against Pillow's Image.draft() (the same libjpeg
// scaling, tests/reference/pil_preprocess.py) byte for byte, and against the exact path within a
// stated tolerance on the shared photos.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <utility>
#include <vector>

#include "hub_configs.h"
#include "image/decode.h"
#include "image/encode.h"
#include "pil_jobs.h"
#include "preprocess/processor.h"
#include "support/npy.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using test::kResnetHub;
using test::kVitHub;

// The tolerance against the exact path, in 8-bit levels of the image the model sees (one level is
// 1 / (255 std) in pixel_values: 0.0078 for ViT's std 0.5, at most 0.0175 for ResNet's): per
// photo, the mean |difference| at most 3 levels and 99.9% of the values within 24 levels. Measured
// on the 41 shared photos: at most 1.45 and 11 (ViT), 2.09 and 15 (ResNet-50) -- the DCT-scaled
// decode averages 2x2..8x8 blocks like the resampling filters it replaces, so differences stay
// near edges and small. A photo decoded in the wrong orientation or at the wrong scale is off by
// tens of levels on average.
constexpr double kMeanLevels = 3;
constexpr double kP999Levels = 24;

// The bike photo stored 4032x3024 with EXIF orientation 6 (shown 3024x4032).
fs::path rotated_photo() { return test::photos_dir() / "bike" / "20220119_175431.jpg"; }

DecodedImage decode_reduced(const fs::path& path, const ReducedFits& fits) {
  DecodeOptions o;
  o.apply_orientation = false;
  o.reduced_fits = fits;
  return load_image(path, o);
}

// What to ask Pillow's draft() for to get binscan's scale: draft((w, h)) takes the largest scale
// s of 8, 4, 2, 1 with s <= min(W // w, H // h), so the stored size / the denominator, rounded
// down (rounded up, as libjpeg sizes its output, 1001 // 126 = 7 would pick 1/4 for 1/8).
json draft_size(const DecodedImage& d) {
  return json::array({d.stored_width / d.scale_denominator, d.stored_height / d.scale_denominator});
}

TEST(FastDecode, ProcessorsSayTheSmallestInputTheyServe) {
  const ImageProcessor vit(ProcessorConfig::from_json(kVitHub, "vit"));
  EXPECT_TRUE(vit.accepts_reduced(224, 224));
  EXPECT_TRUE(vit.accepts_reduced(504, 378));
  EXPECT_FALSE(vit.accepts_reduced(223, 400));
  EXPECT_FALSE(vit.accepts_reduced(400, 223));
  // ResNet-50: the short side is resized to int(224 / 0.875) = 256, then cropped to 224.
  const ImageProcessor resnet(ProcessorConfig::from_json(kResnetHub, "resnet"));
  EXPECT_TRUE(resnet.accepts_reduced(256, 1000));
  EXPECT_TRUE(resnet.accepts_reduced(378, 504));
  EXPECT_FALSE(resnet.accepts_reduced(255, 1000));
  EXPECT_FALSE(resnet.accepts_reduced(1000, 255));
  // Without a resize the output is the input: nothing smaller serves.
  ProcessorConfig none = ProcessorConfig::from_json(kVitHub, "none");
  none.do_resize = false;
  EXPECT_FALSE(ImageProcessor(none).accepts_reduced(4000, 3000));
}

// The coarsest of 1/8, 1/4, 1/2 the predicate accepts, asked with the size as displayed (the
// orientation swaps it); the image stays as stored, its size the stored one / denominator.
TEST(FastDecode, PicksTheCoarsestScaleThatFitsThroughTheOrientation) {
  const fs::path path = rotated_photo();
  std::vector<std::pair<int, int>> asked;
  const auto at_least = [&asked](int min_w, int min_h) {
    return [&asked, min_w, min_h](int w, int h) {
      asked.emplace_back(w, h);
      return w >= min_w && h >= min_h;
    };
  };
  DecodedImage d = decode_reduced(path, at_least(224, 224));
  EXPECT_EQ(d.scale_denominator, 8);
  EXPECT_EQ(d.image.width, 504);  // stored 4032x3024 / 8
  EXPECT_EQ(d.image.height, 378);
  EXPECT_EQ(d.stored_width, 4032);
  EXPECT_EQ(d.exif.orientation, 6);
  EXPECT_EQ(asked, (std::vector<std::pair<int, int>>{{378, 504}}));

  asked.clear();
  d = decode_reduced(path, at_least(700, 800));  // shown 3024 wide: 1/4 gives 756x1008
  EXPECT_EQ(d.scale_denominator, 4);
  EXPECT_EQ(d.image.width, 1008);
  EXPECT_EQ(asked, (std::vector<std::pair<int, int>>{{378, 504}, {756, 1008}}));

  d = decode_reduced(path, at_least(1000, 2016));
  EXPECT_EQ(d.scale_denominator, 2);
  EXPECT_EQ(d.image.width, 2016);
  EXPECT_EQ(d.image.height, 1512);

  // Nothing fits: the full, exact decode, identical to decoding without the option.
  d = decode_reduced(path, at_least(1600, 2100));
  EXPECT_EQ(d.scale_denominator, 1);
  DecodeOptions exact;
  exact.apply_orientation = false;
  EXPECT_EQ(d.image.pixels, load_image(path, exact).image.pixels);

  // Oriented decoding turns the reduced image as it turns the full one.
  DecodeOptions oriented;
  oriented.reduced_fits = at_least(224, 224);
  d = load_image(path, oriented);
  EXPECT_EQ(d.scale_denominator, 8);
  EXPECT_EQ(d.image.width, 378);
  EXPECT_EQ(d.image.height, 504);
}

TEST(FastDecode, PngIsAlwaysDecodedInFull) {
  test::TempDir dir;
  const Image img = test::test_image(600, 400, 3);
  write_png(dir / "a.png", img);
  const DecodedImage d = decode_reduced(dir / "a.png", [](int, int) { return true; });
  EXPECT_EQ(d.scale_denominator, 1);
  EXPECT_EQ(d.image.pixels, img.pixels);
}

// Every JPEG flavour libjpeg scales: grey, CMYK (converted as Pillow does), 4:4:4, 4:2:2 and
// 4:2:0 chroma, progressive, sizes that are no multiple of the 8 or 16 pixel blocks (libjpeg
// rounds the scaled size up, as draft() does). Each at every scale, against Pillow's draft().
TEST(FastDecode, EveryJpegFlavourMatchesPillowDraftAtEveryScale) {
  struct Flavour {
    const char* mode;
    int subsampling;
    bool progressive;
    int w, h;
  };
  const Flavour flavours[] = {{"RGB", 2, false, 1001, 757}, {"RGB", 1, true, 640, 483},
                              {"RGB", 0, false, 333, 250},  {"L", 0, false, 517, 389},
                              {"CMYK", 0, false, 450, 301}, {"RGB", 2, true, 17, 9}};
  test::PilJobs make;
  std::vector<fs::path> files;
  for (const Flavour& f : flavours) {
    files.push_back(make.dir() / (std::string(f.mode) + std::to_string(files.size()) + ".jpg"));
    make.add_make_jpeg(files.back(), f.mode, f.w, f.h, f.subsampling, f.progressive,
                       static_cast<int>(files.size()));
  }
  ASSERT_TRUE(make.run());

  test::PilJobs pil;
  std::vector<std::pair<DecodedImage, std::size_t>> got;
  for (const fs::path& file : files) {
    for (const int want : {8, 4, 2}) {
      // Accept exactly the sizes of 1/want and finer.
      DecodeOptions probe;
      const DecodedImage full = load_image(file, probe);
      const int min_w = (full.image.width + want - 1) / want;
      DecodedImage d = decode_reduced(file, [min_w](int w, int) { return w >= min_w; });
      const std::size_t job = pil.add_decode(file, false);
      pil.set(job, "draft", draft_size(d));
      got.emplace_back(std::move(d), job);
    }
  }
  ASSERT_TRUE(pil.run());
  int scaled = 0;
  for (const auto& [d, job] : got) {
    SCOPED_TRACE(files[job / 3].filename().string() + " at 1/" +
                 std::to_string(d.scale_denominator));
    scaled += d.scale_denominator > 1;
    EXPECT_EQ(test::first_difference(d.image, pil.image(job)), "");
  }
  EXPECT_EQ(scaled, 18);
}

struct Case {
  fs::path photo;
  DecodedImage decoded;  // reduced, as stored
};

// Every shared photo (bins 1500x2000, bikes 4032x3024 and 960x720, one rotated, COCO 640x480)
// through both processors: binscan's reduced decode + preprocess against Pillow's draft() +
// transformers' preprocess (byte-identical), and against binscan's exact path (close).
class FastDecodeVsReferences : public ::testing::TestWithParam<const char*> {};

TEST_P(FastDecodeVsReferences, PillowDraftExactlyAndTheExactPathClosely) {
  const bool vit = std::string(GetParam()) == "vit";
  test::PilJobs jobs;
  const fs::path config = jobs.dir() / "preprocessor_config.json";
  std::ofstream(config) << (vit ? kVitHub : kResnetHub).dump();
  const ImageProcessor processor(ProcessorConfig::from_file(config));
  const auto photos = test::all_photos();
  ASSERT_GE(photos.size(), 20u);

  std::vector<Case> cases;
  std::vector<std::size_t> decode_jobs, draft_jobs, exact_jobs;
  for (const fs::path& photo : photos) {
    Case c{photo,
           decode_reduced(photo, [&](int w, int h) { return processor.accepts_reduced(w, h); })};
    const json draft = draft_size(c.decoded);
    decode_jobs.push_back(jobs.add_decode(photo, false));
    draft_jobs.push_back(jobs.add_preprocess_file(config, photo));
    exact_jobs.push_back(jobs.add_preprocess_file(config, photo));
    jobs.set(decode_jobs.back(), "draft", draft);
    jobs.set(draft_jobs.back(), "draft", draft);
    cases.push_back(std::move(c));
  }
  ASSERT_TRUE(jobs.run());

  int reduced = 0;
  double worst_mean = 0, worst_p999 = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.photo.string());
    // Scale chosen: the coarsest whose displayed size the processor accepts, and not a finer.
    const int den = c.decoded.scale_denominator;
    const int w = c.decoded.display_width(), h = c.decoded.display_height();
    const auto shown = [&](int d) { return std::pair{(w + d - 1) / d, (h + d - 1) / d}; };
    if (den > 1) {
      ++reduced;
      EXPECT_TRUE(processor.accepts_reduced(shown(den).first, shown(den).second));
    }
    if (den < 8) {
      EXPECT_FALSE(processor.accepts_reduced(shown(den * 2).first, shown(den * 2).second));
    }

    // Pillow's draft decode: the same pixels.
    const Image pil = jobs.image(decode_jobs[i]);
    EXPECT_EQ(test::first_difference(c.decoded.image, pil), "");

    // Preprocessed: identical to Pillow's draft + transformers.
    const Image prepared =
        processor.prepare_oriented(c.decoded.image, c.decoded.pending_orientation());
    std::vector<float> px(3 * static_cast<std::size_t>(prepared.width) * prepared.height);
    processor.to_pixel_values(prepared, px.data());
    const auto ref = test::read_npy_f32(jobs.npy_path(draft_jobs[i]));
    EXPECT_EQ(px, ref.data) << "pixel_values differ from Pillow draft + transformers";

    // Against the exact path (transformers on the full decode): close, not equal. In 8-bit
    // levels of the image the model sees: the mean difference and the 99.9th percentile.
    const Image exact = jobs.image(exact_jobs[i]);
    ASSERT_EQ(exact.pixels.size(), prepared.pixels.size());
    std::vector<int> diff(exact.pixels.size());
    double sum = 0;
    for (std::size_t k = 0; k < diff.size(); ++k) {
      diff[k] = std::abs(int(exact.pixels[k]) - int(prepared.pixels[k]));
      sum += diff[k];
    }
    const double mean = sum / static_cast<double>(diff.size());
    std::nth_element(diff.begin(),
                     diff.begin() + static_cast<std::ptrdiff_t>(diff.size() * 999 / 1000),
                     diff.end());
    const double p999 = diff[diff.size() * 999 / 1000];
    worst_mean = std::max(worst_mean, mean);
    worst_p999 = std::max(worst_p999, p999);
    EXPECT_LE(mean, kMeanLevels) << "scale 1/" << den;
    EXPECT_LE(p999, kP999Levels) << "scale 1/" << den;
  }
  std::printf(
      "  %s: %d of %zu photos reduced; vs exact: worst mean |diff| %.2f levels, worst "
      "99.9th percentile %.0f levels\n",
      GetParam(), reduced, cases.size(), worst_mean, worst_p999);
  EXPECT_GE(reduced, 20);  // the large photos are all reduced
}

INSTANTIATE_TEST_SUITE_P(Models, FastDecodeVsReferences, ::testing::Values("vit", "resnet"));

}  // namespace
}  // namespace binscan

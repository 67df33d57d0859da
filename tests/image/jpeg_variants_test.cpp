// JPEG colour spaces Pillow cannot write (YCCK, CMYK without an Adobe marker, RGB without
// YCbCr): written here with libjpeg itself, then decoded by binscan and by Pillow and compared.
#include <cstdio>
#include <fstream>
#include <random>
#include <vector>

// clang-format off
#include <cstddef>  // jpeglib.h needs size_t and FILE declared before it
#include <jpeglib.h>
// clang-format on

#include <gtest/gtest.h>

#include "image/decode.h"
#include "pil_reference.h"
#include "support/test_support.h"

namespace binscan {
namespace {

struct Variant {
  const char* name;
  int components;        // 3 (RGB input) or 4 (CMYK input)
  J_COLOR_SPACE stored;  // colour space inside the file
  bool adobe_marker;
  bool jfif_marker;
  bool progressive;
};

std::vector<std::uint8_t> encode(const Variant& v, int w, int h,
                                 const std::vector<std::uint8_t>& px) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};
  cinfo.err = jpeg_std_error(&err);  // default error_exit exits: the test input is always valid
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(w);
  cinfo.image_height = static_cast<JDIMENSION>(h);
  cinfo.input_components = v.components;
  cinfo.in_color_space = v.components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 90, TRUE);
  jpeg_set_colorspace(&cinfo, v.stored);
  cinfo.write_Adobe_marker = v.adobe_marker ? TRUE : FALSE;
  cinfo.write_JFIF_header = v.jfif_marker ? TRUE : FALSE;
  if (v.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    auto* row = const_cast<JSAMPLE*>(px.data() + static_cast<std::size_t>(cinfo.next_scanline) *
                                                     static_cast<std::size_t>(w * v.components));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::vector<std::uint8_t> bytes(out, out + size);
  std::free(out);
  jpeg_destroy_compress(&cinfo);
  return bytes;
}

TEST(DecodeJpegVariants, YcckCmykAndRgbColourSpacesMatchPillow) {
  const Variant variants[] = {
      {"ycck_adobe.jpg", 4, JCS_YCCK, true, false, false},
      {"ycck_adobe_progressive.jpg", 4, JCS_YCCK, true, false, true},
      {"cmyk_adobe.jpg", 4, JCS_CMYK, true, false, false},
      {"cmyk_no_adobe.jpg", 4, JCS_CMYK, false, false, false},
      {"rgb_adobe.jpg", 3, JCS_RGB, true, false, false},
      {"ycbcr_no_markers.jpg", 3, JCS_YCbCr, false, false, false},
  };
  test::TempDir dir;
  std::mt19937 rng(7);
  const int w = 29, h = 13;
  std::vector<std::filesystem::path> files;
  for (const auto& v : variants) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * v.components));
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < v.components; ++c) {  // gradients + noise, all channels distinct
          const int base = (c % 2 ? x * 255 / (w - 1) : y * 255 / (h - 1)) / (c + 1);
          px[static_cast<std::size_t>((y * w + x) * v.components + c)] = static_cast<std::uint8_t>(
              std::clamp(base + static_cast<int>(rng() % 61) - 30, 0, 255));
        }
      }
    }
    const auto bytes = encode(v, w, h, px);
    files.push_back(dir / v.name);
    std::ofstream(files.back(), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
  const auto refs = test::pil_decode(dir / "ref", files);
  ASSERT_EQ(refs.size(), files.size());
  for (const auto& ref : refs) {
    SCOPED_TRACE(ref.path.filename().string());
    ASSERT_TRUE(ref.ok) << ref.error;
    const DecodedImage d = load_image(ref.path);
    EXPECT_EQ(test::compare_with_reference(d.image, ref), "");
  }
}

}  // namespace
}  // namespace binscan

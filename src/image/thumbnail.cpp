// Thumbnails for reports. The JPEG path decodes with libjpeg's DCT scaling (scale_denom up to 8):
// a report of a city's worth of 12 MP photos would otherwise spend most of its time decoding
// pixels it throws away. Pixel exactness with Pillow does not matter here (no model sees these).
//
// libjpeg's error_exit must not return; as in jpeg.cpp we longjmp out of it, and every libjpeg call
// sits in a small guarded function whose frames hold no C++ objects with destructors.
#include "image/thumbnail.h"

#include <jerror.h>
#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>

#include "image/decode.h"
#include "image/exif.h"
#include "util/error.h"

namespace binscan {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error_exit(j_common_ptr cinfo) {
  auto* m = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, m->message);
  std::longjmp(m->jump, 1);
}
void on_output_message(j_common_ptr) {}  // a library never prints

// --- encoding ---------------------------------------------------------------------------------

bool guarded_encode(jpeg_compress_struct* cinfo, ErrorManager* m, const Image* image, int quality,
                    unsigned char** out, unsigned long* out_size) {
  if (setjmp(m->jump)) return false;
  jpeg_mem_dest(cinfo, out, out_size);
  cinfo->image_width = static_cast<JDIMENSION>(image->width);
  cinfo->image_height = static_cast<JDIMENSION>(image->height);
  cinfo->input_components = 3;
  cinfo->in_color_space = JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image->row(static_cast<int>(cinfo->next_scanline)));
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

// --- scaled JPEG decoding ---------------------------------------------------------------------

struct ScaledJpeg {
  int width = 0;
  int height = 0;
  const std::uint8_t* exif = nullptr;  // TIFF header inside the APP1 marker (valid until destroy)
  std::size_t exif_size = 0;
};

bool guarded_read_header(jpeg_decompress_struct* cinfo, ErrorManager* m, const std::uint8_t* data,
                         std::size_t size, int max_side, ScaledJpeg* out) {
  if (setjmp(m->jump)) return false;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);
  for (jpeg_saved_marker_ptr mk = cinfo->marker_list; mk; mk = mk->next) {
    if (mk->marker == JPEG_APP0 + 1 && mk->data_length > 6 &&
        std::equal(mk->data, mk->data + 6, reinterpret_cast<const JOCTET*>("Exif\0\0"))) {
      out->exif = mk->data + 6;
      out->exif_size = mk->data_length - 6;
      break;
    }
  }
  // The largest DCT reduction that keeps the longer side at least max_side (libjpeg-turbo
  // supports scale_num/8 for 1..16; denominators 1, 2, 4, 8 are the fast ones).
  const unsigned longer = std::max(cinfo->image_width, cinfo->image_height);
  unsigned denom = 1;
  while (denom < 8 && longer / (denom * 2) >= static_cast<unsigned>(max_side)) denom *= 2;
  cinfo->scale_num = 1;
  cinfo->scale_denom = denom;
  cinfo->out_color_space = JCS_RGB;  // libjpeg converts gray/YCbCr; CMYK is refused below
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    std::snprintf(m->message, sizeof m->message, "%s", "CMYK");
    return false;
  }
  jpeg_calc_output_dimensions(cinfo);
  out->width = static_cast<int>(cinfo->output_width);
  out->height = static_cast<int>(cinfo->output_height);
  return true;
}

bool guarded_decode(jpeg_decompress_struct* cinfo, ErrorManager* m, Image* image) {
  if (setjmp(m->jump)) return false;
  jpeg_start_decompress(cinfo);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = image->row(static_cast<int>(cinfo->output_scanline));
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

// Returns false (and leaves `oriented` empty) when the fast path does not apply.
bool scaled_jpeg(std::span<const std::uint8_t> bytes, int max_side, Image* oriented) {
  jpeg_decompress_struct cinfo{};
  ErrorManager m{};
  cinfo.err = jpeg_std_error(&m.pub);
  m.pub.error_exit = on_error_exit;
  m.pub.output_message = on_output_message;
  jpeg_create_decompress(&cinfo);
  ScaledJpeg info;
  Image image;
  bool ok = guarded_read_header(&cinfo, &m, bytes.data(), bytes.size(), max_side, &info);
  int orientation = 1;
  if (ok) {
    if (static_cast<std::int64_t>(info.width) * info.height > kMaxImagePixels) {
      ok = false;
    } else {
      if (info.exif) {
        std::vector<std::string> warnings;
        orientation = parse_exif(std::span(info.exif, info.exif_size), &warnings).orientation;
      }
      image = Image(info.width, info.height);
      ok = guarded_decode(&cinfo, &m, &image);
    }
  }
  jpeg_destroy_decompress(&cinfo);
  if (!ok) return false;
  *oriented = apply_exif_orientation(image, orientation);
  return true;
}

}  // namespace

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality) {
  if (image.empty()) throw Error(ErrorKind::kFormat, "", "cannot encode an empty image as JPEG");
  jpeg_compress_struct cinfo{};
  ErrorManager m{};
  cinfo.err = jpeg_std_error(&m.pub);
  m.pub.error_exit = on_error_exit;
  m.pub.output_message = on_output_message;
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const bool ok = guarded_encode(&cinfo, &m, &image, std::clamp(quality, 1, 100), &out, &out_size);
  jpeg_destroy_compress(&cinfo);
  std::vector<std::uint8_t> result;
  if (ok && out) result.assign(out, out + out_size);
  std::free(out);  // jpeg_mem_dest allocates with malloc
  if (!ok) throw Error(ErrorKind::kFormat, "", std::string("JPEG encoding failed: ") + m.message);
  return result;
}

Image shrink_to_fit(const Image& src, int max_side) {
  const int longer = std::max(src.width, src.height);
  if (max_side <= 0 || longer <= max_side) return src;
  const double scale = static_cast<double>(max_side) / longer;
  const int w = std::max(1, static_cast<int>(src.width * scale + 0.5));
  const int h = std::max(1, static_cast<int>(src.height * scale + 0.5));
  Image dst(w, h);
  for (int y = 0; y < h; ++y) {
    const int y0 = static_cast<int>(static_cast<std::int64_t>(y) * src.height / h);
    const int y1 =
        std::max(y0 + 1, static_cast<int>(static_cast<std::int64_t>(y + 1) * src.height / h));
    for (int x = 0; x < w; ++x) {
      const int x0 = static_cast<int>(static_cast<std::int64_t>(x) * src.width / w);
      const int x1 =
          std::max(x0 + 1, static_cast<int>(static_cast<std::int64_t>(x + 1) * src.width / w));
      unsigned sum[3] = {0, 0, 0};
      for (int yy = y0; yy < y1; ++yy) {
        const std::uint8_t* p = src.row(yy) + static_cast<std::size_t>(x0) * 3;
        for (int xx = x0; xx < x1; ++xx, p += 3) {
          sum[0] += p[0];
          sum[1] += p[1];
          sum[2] += p[2];
        }
      }
      const unsigned n = static_cast<unsigned>((y1 - y0) * (x1 - x0));
      std::uint8_t* out = dst.row(y) + static_cast<std::size_t>(x) * 3;
      for (int c = 0; c < 3; ++c) out[c] = static_cast<std::uint8_t>((sum[c] + n / 2) / n);
    }
  }
  return dst;
}

std::vector<std::uint8_t> make_thumbnail_jpeg(std::span<const std::uint8_t> file_bytes,
                                              const std::string& name,
                                              const ThumbnailOptions& options) {
  Image upright;
  const auto format = sniff_format(file_bytes);
  if (!(format == ImageFormat::kJpeg && scaled_jpeg(file_bytes, options.max_side, &upright))) {
    upright = decode_image(file_bytes, name).image;  // other formats, CMYK, or damaged JPEGs
  }
  try {
    return encode_jpeg(shrink_to_fit(upright, options.max_side), options.quality);
  } catch (const Error& e) {
    throw Error(e.kind(), name, e.cause());
  }
}

}  // namespace binscan

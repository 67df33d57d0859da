// JPEG through libjpeg-turbo at its defaults (islow IDCT, fancy upsampling), the same library and
// settings Pillow 9.4 uses, so the pixels are identical to PIL.Image.open(...).convert("RGB").
//
// libjpeg reports fatal errors through error_exit, which must not return. We longjmp out of it,
// which is only well defined when no C++ object with a destructor lives in the frames that are
// skipped: every libjpeg call therefore happens inside small "guarded" functions whose locals are
// all trivial, and the C++ state (buffers, the Image) is owned by the caller.
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

// clang-format off
#include <cstddef>  // jpeglib.h needs size_t and FILE declared before it
#include <jpeglib.h>
#include <jerror.h>
// clang-format on

#include "image/codecs.h"
#include "util/error.h"

namespace binscan::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
  bool all_rows_read;  // after the last scanline a missing EOI is harmless, as in Pillow
  char first_warning[JMSG_LENGTH_MAX];
};

ErrorManager& manager_of(j_common_ptr cinfo) {
  return *reinterpret_cast<ErrorManager*>(cinfo->err);
}

void on_error_exit(j_common_ptr cinfo) {
  ErrorManager& m = manager_of(cinfo);
  (*cinfo->err->format_message)(cinfo, m.message);
  std::longjmp(m.jump, 1);
}

// Warnings ("Corrupt JPEG data: N extraneous bytes") do not stop Pillow, so they do not stop us
// either — except running out of data before the last row: Pillow raises "image file is
// truncated" there (unless ImageFile.LOAD_TRUNCATED_IMAGES), while libjpeg would silently pad
// the rest of the image with grey.
void on_emit_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  ErrorManager& m = manager_of(cinfo);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
    if (m.all_rows_read) return;
    m.truncated = true;
    std::snprintf(m.message, sizeof m.message, "%s",
                  "truncated JPEG data (the file ends before the image is complete)");
    std::longjmp(m.jump, 1);
  }
  if (cinfo->err->num_warnings++ == 0) (*cinfo->err->format_message)(cinfo, m.first_warning);
}

void on_output_message(j_common_ptr) {}  // never print from a library

bool guarded_create(jpeg_decompress_struct* cinfo, ErrorManager* m) {
  if (setjmp(m->jump)) return false;
  jpeg_create_decompress(cinfo);
  return true;
}

// Everything up to the header, including jpeg_mem_src (which itself errors out on empty input).
bool guarded_read_header(jpeg_decompress_struct* cinfo, ErrorManager* m, const std::uint8_t* data,
                         std::size_t size) {
  if (setjmp(m->jump)) return false;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);
  return true;
}

// Pillow decodes 4-channel JPEGs as "CMYK;I" (always Adobe's inverted polarity) and then
// converts with its own cmyk2rgb (Convert.c): with c' = 255 - c etc. (the inversion),
//   nk = 255 - k',  out = clip8(nk - MULDIV255(c', nk)),  MULDIV255(a, b) = ((t >> 8) + t) >> 8,
// t = a * b + 128. Reproduced exactly here, fused with the inversion.
inline std::uint8_t cmyk_channel(int c_inverted, int nk) {
  const int t = c_inverted * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

void cmyk_rows_to_rgb(const std::uint8_t* in, std::uint8_t* out, std::size_t pixels) {
  for (std::size_t i = 0; i < pixels; ++i, in += 4, out += 3) {
    const int nk = in[3];  // 255 - (255 - k)
    out[0] = cmyk_channel(255 - in[0], nk);
    out[1] = cmyk_channel(255 - in[1], nk);
    out[2] = cmyk_channel(255 - in[2], nk);
  }
}

// Decodes every scanline straight into the output rows (`rows`: one pointer per RGB row). CMYK
// goes through `scratch_rows` (kMaxBatch rows of 4 samples per pixel) and is converted per batch.
constexpr JDIMENSION kMaxBatch = 16;

// The output size at scale 1/denom (libjpeg rounds up).
bool guarded_scaled_size(jpeg_decompress_struct* cinfo, ErrorManager* m, unsigned denom,
                         JDIMENSION* width, JDIMENSION* height) {
  if (setjmp(m->jump)) return false;
  cinfo->scale_num = 1;
  cinfo->scale_denom = denom;
  jpeg_calc_output_dimensions(cinfo);
  *width = cinfo->output_width;
  *height = cinfo->output_height;
  return true;
}

bool guarded_decompress(jpeg_decompress_struct* cinfo, ErrorManager* m, JSAMPROW* rows,
                        JSAMPROW* scratch_rows, bool cmyk) {
  if (setjmp(m->jump)) return false;
  jpeg_start_decompress(cinfo);
  const JDIMENSION height = cinfo->output_height;
  while (cinfo->output_scanline < height) {
    const JDIMENSION y = cinfo->output_scanline;
    if (!cmyk) {
      jpeg_read_scanlines(cinfo, rows + y, height - y);
    } else {
      const auto want = static_cast<JDIMENSION>(cinfo->rec_outbuf_height);
      const JDIMENSION n =
          jpeg_read_scanlines(cinfo, scratch_rows, want < kMaxBatch ? want : kMaxBatch);
      for (JDIMENSION i = 0; i < n; ++i) {
        cmyk_rows_to_rgb(scratch_rows[i], rows[y + i], cinfo->output_width);
      }
    }
  }
  m->all_rows_read = true;
  jpeg_finish_decompress(cinfo);
  return true;
}

struct Decompressor {
  jpeg_decompress_struct cinfo{};
  ErrorManager errors{};
  bool created = false;
  Decompressor() {
    cinfo.err = jpeg_std_error(&errors.pub);
    errors.pub.error_exit = on_error_exit;
    errors.pub.emit_message = on_emit_message;
    errors.pub.output_message = on_output_message;
    created = guarded_create(&cinfo, &errors);
  }
  ~Decompressor() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  [[noreturn]] void fail(const std::string& name) const {
    if (errors.truncated) throw Error(ErrorKind::kFormat, name, errors.message);
    throw Error(ErrorKind::kFormat, name, std::string("invalid JPEG data: ") + errors.message);
  }
};

}  // namespace

CodecResult read_jpeg(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::int64_t max_pixels, bool pixels, const ReducedFits& reduced_fits) {
  CodecResult result;
  Decompressor d;
  if (!d.created) throw Error(ErrorKind::kInternal, name, "cannot initialise libjpeg");
  if (!guarded_read_header(&d.cinfo, &d.errors, bytes.data(), bytes.size())) d.fail(name);

  result.width = static_cast<int>(d.cinfo.image_width);
  result.height = static_cast<int>(d.cinfo.image_height);
  check_pixel_limit(result.width, result.height, max_pixels, name);

  // Pillow takes the first APP1 segment starting with "Exif\0" (JpegImagePlugin.APP).
  for (jpeg_saved_marker_ptr m = d.cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 &&
        std::memcmp(m->data, "Exif\0", 5) == 0) {
      result.exif = parse_exif({m->data, m->data_length}, &result.warnings);
      break;
    }
  }
  if (!pixels) return result;

  // 1 component: gray replicated to RGB (= Pillow's "L" then l2rgb); 3 components: libjpeg's
  // own YCbCr/RGB guess from JFIF/Adobe markers, as Pillow leaves it; 4: CMYK, see above.
  const int components = d.cinfo.num_components;
  const bool cmyk = components == 4;
  if (components != 1 && components != 3 && components != 4) {
    throw Error(ErrorKind::kUnsupported, name,
                "JPEG with " + std::to_string(components) + " colour components");
  }
  d.cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGB;

  // DCT scaling: the coarsest scale whose image is still large enough for the caller.
  int out_width = result.width, out_height = result.height;
  if (reduced_fits) {
    const bool swapped = result.exif.orientation >= 5 && result.exif.orientation <= 8;
    for (const unsigned denom : {8u, 4u, 2u}) {
      JDIMENSION w = 0, h = 0;
      if (!guarded_scaled_size(&d.cinfo, &d.errors, denom, &w, &h)) d.fail(name);
      const auto iw = static_cast<int>(w), ih = static_cast<int>(h);
      if (swapped ? reduced_fits(ih, iw) : reduced_fits(iw, ih)) {
        result.scale_denominator = static_cast<int>(denom);
        out_width = iw;
        out_height = ih;
        break;
      }
    }
    if (result.scale_denominator == 1) {
      d.cinfo.scale_num = 1;
      d.cinfo.scale_denom = 1;
    }
  }

  result.image = Image(out_width, out_height);
  std::vector<JSAMPROW> rows(static_cast<std::size_t>(out_height));
  for (int y = 0; y < out_height; ++y) rows[static_cast<std::size_t>(y)] = result.image.row(y);
  std::vector<std::uint8_t> scratch;
  std::vector<JSAMPROW> scratch_rows;
  if (cmyk) {
    // Batches of at most kMaxBatch rows (rec_outbuf_height is 1 or 2 in practice).
    scratch.resize(kMaxBatch * static_cast<std::size_t>(out_width) * 4);
    for (std::size_t i = 0; i < kMaxBatch; ++i) {
      scratch_rows.push_back(scratch.data() + i * static_cast<std::size_t>(out_width) * 4);
    }
  }
  if (!guarded_decompress(&d.cinfo, &d.errors, rows.data(), scratch_rows.data(), cmyk)) {
    d.fail(name);
  }
  if (d.errors.pub.num_warnings > 0) {
    result.warnings.push_back(std::string("JPEG data has errors, decoded anyway: ") +
                              d.errors.first_warning);
  }
  return result;
}

}  // namespace binscan::detail

// PNG through libpng, converted to RGB exactly as Pillow 9.4's PngImagePlugin + convert("RGB"):
//   gray 1/2/4/8 bit   -> "1" / "L;2" / "L;4" / "L": 0|255, v*85, v*17, v, replicated
//   gray 16 bit        -> mode "I" (I;16B), and Pillow's i2rgb CLIPS it: min(v, 255) — not v>>8
//   gray+alpha 8/16    -> gray (high byte for 16) replicated, alpha dropped
//   palette 1/2/4/8    -> palette entry; Pillow's palette starts as the grey ramp (i,i,i), so an
//                         index beyond a short PLTE gives (i,i,i)
//   RGB / RGBA 8/16    -> the high byte of each sample, alpha dropped (not composited)
// tRNS, gAMA, iCCP and sBIT are ignored, as Pillow's convert("RGB") ignores them.
//
// libpng reports errors by longjmp; as in jpeg.cpp, every libpng call runs in a small guarded
// function without C++ objects that need destruction.
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "image/codecs.h"
#include "util/error.h"

namespace binscan::detail {
namespace {

struct ReadState {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t pos;
  bool truncated;
  char message[256];
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* st = static_cast<ReadState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // benign (e.g. "known incorrect sRGB")

void on_png_read(png_structp png, png_bytep out, png_size_t length) {
  auto* st = static_cast<ReadState*>(png_get_io_ptr(png));
  if (length > st->size - st->pos) {
    st->truncated = true;
    png_error(png, "truncated PNG data");
  }
  std::memcpy(out, st->data + st->pos, length);
  st->pos += length;
}

bool guarded_read_info(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  return true;
}

bool guarded_update_info(png_structp png, png_infop info) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_update_info(png, info);
  return true;
}

// Converts one unpacked row (after png_set_packing: one byte per sample below 8 bits; 16-bit
// samples big-endian) to RGB.
struct RowFormat {
  int channels;  // samples per pixel in the unpacked row
  int bytes_per_sample;
  bool gray16_clip;           // gray 16: min(v, 255)
  bool lut;                   // 1 sample through `table` (gray < 16 bit and palette)
  const std::uint8_t* table;  // 256 x RGB
};

void convert_row(const RowFormat& f, const std::uint8_t* in, std::uint8_t* out, std::size_t w) {
  if (f.lut) {
    for (std::size_t x = 0; x < w; ++x, out += 3) std::memcpy(out, f.table + 3 * in[x], 3);
    return;
  }
  if (f.gray16_clip) {
    for (std::size_t x = 0; x < w; ++x, out += 3, in += 2 * f.channels) {
      const unsigned v = (unsigned{in[0]} << 8) | in[1];
      out[0] = out[1] = out[2] = static_cast<std::uint8_t>(v > 255 ? 255 : v);
    }
    return;
  }
  const std::size_t step = static_cast<std::size_t>(f.channels * f.bytes_per_sample);
  if (f.channels <= 2) {  // gray (+alpha): high byte replicated
    for (std::size_t x = 0; x < w; ++x, out += 3, in += step) out[0] = out[1] = out[2] = in[0];
    return;
  }
  const std::size_t b = static_cast<std::size_t>(f.bytes_per_sample);
  for (std::size_t x = 0; x < w; ++x, out += 3, in += step) {
    out[0] = in[0];
    out[1] = in[b];
    out[2] = in[2 * b];
  }
}

// Row by row; `direct` rows (8-bit RGB) land in the output without conversion.
bool guarded_read_rows(png_structp png, const RowFormat* f, std::uint8_t* row_buffer, Image* out,
                       bool direct) {
  if (setjmp(png_jmpbuf(png))) return false;
  const auto w = static_cast<std::size_t>(out->width);
  for (int y = 0; y < out->height; ++y) {
    if (direct) {
      png_read_row(png, out->row(y), nullptr);
    } else {
      png_read_row(png, row_buffer, nullptr);
      convert_row(*f, row_buffer, out->row(y), w);
    }
  }
  return true;
}

bool guarded_read_image(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

struct PngHandle {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngHandle() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

// ---- metadata: walked over the raw chunks ourselves, before and after IDAT, like Pillow ----

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

// zlib inflate with an output cap (Pillow's _safe_zlib_decompress caps text at 1 MB too).
std::optional<std::string> inflate_capped(std::span<const std::uint8_t> in, std::size_t cap) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return std::nullopt;
  std::string out;
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  std::array<char, 16384> buf{};
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - zs.avail_out);
    if (out.size() > cap) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

struct PngMetadata {
  std::optional<std::vector<std::uint8_t>> exif;  // eXIf chunk
  std::optional<std::string> raw_profile_exif;    // ImageMagick's "Raw profile type exif" text
  std::optional<std::string> xmp;                 // iTXt "XML:com.adobe.xmp"
};

void take_text(PngMetadata& md, const std::string& key, std::string value) {
  if (key == "Raw profile type exif") md.raw_profile_exif = std::move(value);
  if (key == "XML:com.adobe.xmp") md.xmp = std::move(value);
}

PngMetadata walk_chunks(std::span<const std::uint8_t> bytes, std::vector<std::string>& warnings) {
  constexpr std::size_t kTextCap = 1 << 20;
  PngMetadata md;
  std::size_t pos = 8;
  while (bytes.size() - pos >= 12) {
    const std::uint32_t length = be32(bytes.data() + pos);
    const std::uint8_t* type = bytes.data() + pos + 4;
    if (length > bytes.size() - pos - 12) break;  // truncated: the pixel reader reports it
    const std::span<const std::uint8_t> body = bytes.subspan(pos + 8, length);
    pos += 12 + std::size_t{length};
    if (std::memcmp(type, "IEND", 4) == 0) break;
    if (std::memcmp(type, "eXIf", 4) == 0) {
      md.exif.emplace(body.begin(), body.end());
      continue;
    }
    const bool text = std::memcmp(type, "tEXt", 4) == 0;
    const bool ztext = std::memcmp(type, "zTXt", 4) == 0;
    const bool itext = std::memcmp(type, "iTXt", 4) == 0;
    if (!text && !ztext && !itext) continue;
    const auto nul = std::find(body.begin(), body.end(), std::uint8_t{0});
    if (nul == body.end()) continue;
    const std::string key(body.begin(), nul);
    if (key != "Raw profile type exif" && key != "XML:com.adobe.xmp") continue;
    std::span<const std::uint8_t> rest(nul + 1, body.end());
    if (text) {
      take_text(md, key, std::string(rest.begin(), rest.end()));
    } else if (ztext) {
      if (rest.empty() || rest[0] != 0) continue;
      if (auto v = inflate_capped(rest.subspan(1), kTextCap)) {
        take_text(md, key, std::move(*v));
      } else {
        warnings.push_back("ignored unreadable PNG text chunk '" + key + "'");
      }
    } else {
      // iTXt: compression flag, method, language\0, translated keyword\0, text
      if (rest.size() < 2) continue;
      const bool compressed = rest[0] != 0;
      const std::uint8_t method = rest[1];
      rest = rest.subspan(2);
      for (int i = 0; i < 2; ++i) {
        const auto z = std::find(rest.begin(), rest.end(), std::uint8_t{0});
        if (z == rest.end()) {
          rest = {};
          break;
        }
        rest = std::span<const std::uint8_t>(z + 1, rest.end());
      }
      if (!compressed) {
        take_text(md, key, std::string(rest.begin(), rest.end()));
      } else if (method == 0) {
        if (auto v = inflate_capped(rest, kTextCap)) take_text(md, key, std::move(*v));
      }
    }
  }
  return md;
}

std::optional<std::vector<std::uint8_t>> from_hex(const std::string& text) {
  // Pillow: bytes.fromhex("".join(value.split("\n")[3:])) — header lines dropped, whitespace
  // between byte pairs ignored.
  std::size_t start = 0;
  for (int line = 0; line < 3; ++line) {
    start = text.find('\n', start);
    if (start == std::string::npos) return std::vector<std::uint8_t>{};
    ++start;
  }
  std::vector<std::uint8_t> out;
  int high = -1;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      if (high >= 0) return std::nullopt;  // whitespace inside a byte
      continue;
    }
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) return std::nullopt;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high * 16 + v));
      high = -1;
    }
  }
  if (high >= 0) return std::nullopt;
  return out;
}

// Pillow's Image.getexif for PNG: the eXIf chunk, else the "Raw profile type exif" text; and
// when neither carries an Orientation tag, `tiff:Orientation` from the XMP packet.
Exif png_exif(const PngMetadata& md, std::vector<std::string>& warnings) {
  Exif exif;
  bool has_orientation = false;
  if (md.exif) {
    exif = parse_exif_checked(*md.exif, &warnings, &has_orientation);
  } else if (md.raw_profile_exif) {
    if (auto block = from_hex(*md.raw_profile_exif)) {
      exif = parse_exif_checked(*block, &warnings, &has_orientation);
    } else {
      warnings.push_back("ignored malformed EXIF: invalid hex in PNG 'Raw profile type exif'");
    }
  }
  if (!has_orientation && md.xmp) {
    const std::string& x = *md.xmp;
    static constexpr std::string_view kTag = "tiff:Orientation";
    for (std::size_t at = x.find(kTag); at != std::string::npos; at = x.find(kTag, at + 1)) {
      const std::size_t p = at + kTag.size();
      std::size_t digit = std::string::npos;
      if (x.compare(p, 2, "=\"") == 0) digit = p + 2;
      if (x.compare(p, 1, ">") == 0) digit = p + 1;
      if (digit < x.size() && x[digit] >= '0' && x[digit] <= '9') {
        const int v = x[digit] - '0';
        exif.orientation = (v >= 1 && v <= 8) ? v : 1;
        break;
      }
    }
  }
  return exif;
}

}  // namespace

CodecResult read_png(std::span<const std::uint8_t> bytes, const std::string& name,
                     std::int64_t max_pixels, bool pixels) {
  CodecResult result;
  ReadState st{bytes.data(), bytes.size(), 0, false, {}};
  PngHandle h;
  h.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
  if (h.png == nullptr) throw Error(ErrorKind::kInternal, name, "cannot initialise libpng");
  h.info = png_create_info_struct(h.png);
  if (h.info == nullptr) throw Error(ErrorKind::kInternal, name, "cannot initialise libpng");
  png_set_read_fn(h.png, &st, on_png_read);
  // Pillow has no per-side limit, only the total pixel count checked below.
  png_set_user_limits(h.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  // Metadata is read by walk_chunks; libpng need not store (or validate) it.
  static const png_byte kIgnored[] = "tEXt\0zTXt\0iTXt\0eXIf\0iCCP\0";
  png_set_keep_unknown_chunks(h.png, PNG_HANDLE_CHUNK_NEVER, kIgnored, 5);

  auto fail = [&]() {
    if (st.truncated) {
      throw Error(ErrorKind::kFormat, name,
                  "truncated PNG data (the file ends before the image is complete)");
    }
    throw Error(ErrorKind::kFormat, name, std::string("invalid PNG data: ") + st.message);
  };
  if (!guarded_read_info(h.png, h.info)) fail();

  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(h.png, h.info, &width, &height, &bit_depth, &color_type, &interlace, nullptr,
               nullptr);
  check_pixel_limit(width, height, max_pixels, name);
  result.width = static_cast<int>(width);
  result.height = static_cast<int>(height);
  result.exif = png_exif(walk_chunks(bytes, result.warnings), result.warnings);
  if (!pixels) return result;

  std::array<std::uint8_t, 256 * 3> table{};
  RowFormat f{png_get_channels(h.png, h.info), bit_depth == 16 ? 2 : 1, false, false, table.data()};
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    for (int i = 0; i < 256; ++i)
      std::fill_n(table.begin() + 3 * i, 3, static_cast<std::uint8_t>(i));
    png_colorp palette = nullptr;
    int entries = 0;
    if (png_get_PLTE(h.png, h.info, &palette, &entries) == PNG_INFO_PLTE) {
      for (int i = 0; i < std::min(entries, 256); ++i) {
        table[3 * i] = palette[i].red;
        table[3 * i + 1] = palette[i].green;
        table[3 * i + 2] = palette[i].blue;
      }
    }
    f.lut = true;
  } else if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 16) {
    const int scale = bit_depth == 1 ? 255 : bit_depth == 2 ? 85 : bit_depth == 4 ? 17 : 1;
    for (int i = 0; i < 256; ++i) {
      const int v = bit_depth == 1 ? (i != 0 ? 255 : 0) : std::min(i * scale, 255);
      std::fill_n(table.begin() + 3 * i, 3, static_cast<std::uint8_t>(v));
    }
    f.lut = true;
  } else if (color_type == PNG_COLOR_TYPE_GRAY) {
    f.gray16_clip = true;
  }
  if (bit_depth < 8) png_set_packing(h.png);
  const int passes = png_set_interlace_handling(h.png);
  if (!guarded_update_info(h.png, h.info)) fail();

  result.image = Image(result.width, result.height);
  const std::size_t rowbytes = png_get_rowbytes(h.png, h.info);
  const bool direct = color_type == PNG_COLOR_TYPE_RGB && bit_depth == 8;
  if (passes == 1) {
    std::vector<std::uint8_t> row(direct ? 0 : rowbytes);
    if (!guarded_read_rows(h.png, &f, row.data(), &result.image, direct)) fail();
  } else {
    // Adam7 needs the whole image before any row is final.
    std::vector<std::uint8_t> raw(rowbytes * height);
    std::vector<png_bytep> rows(height);
    for (png_uint_32 y = 0; y < height; ++y) rows[y] = raw.data() + y * rowbytes;
    if (!guarded_read_image(h.png, rows.data())) fail();
    for (png_uint_32 y = 0; y < height; ++y) {
      convert_row(f, rows[y], result.image.row(static_cast<int>(y)), width);
    }
  }
  return result;
}

}  // namespace binscan::detail

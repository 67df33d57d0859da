// WebP through libwebp. Pillow 9.4 decodes WebP with WebPAnimDecoder into RGBA/RGBX and drops
// the alpha channel in convert("RGB"); for a still image (and for the first frame of an animation,
// which is a key frame and so is not blended) that equals libwebp's plain RGB decode, which we
// do straight into the output image. EXIF comes from the "EXIF" chunk via libwebpdemux, as
// Pillow's decoder.get_chunk("EXIF").
#include <webp/decode.h>
#include <webp/demux.h>

#include <memory>

#include "image/codecs.h"
#include "util/error.h"

namespace binscan::detail {
namespace {

struct DemuxDeleter {
  void operator()(WebPDemuxer* d) const { WebPDemuxDelete(d); }
};
struct AnimDeleter {
  void operator()(WebPAnimDecoder* d) const { WebPAnimDecoderDelete(d); }
};

std::string status_text(VP8StatusCode s) {
  switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY:
      return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
      return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
      return "corrupt bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return "unsupported feature";
    case VP8_STATUS_SUSPENDED:
      return "suspended";
    case VP8_STATUS_USER_ABORT:
      return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return "not enough data";
    default:
      return "error";
  }
}

[[noreturn]] void fail(const std::string& name, VP8StatusCode s) {
  if (s == VP8_STATUS_NOT_ENOUGH_DATA) {
    throw Error(ErrorKind::kFormat, name,
                "truncated WebP data (the file ends before the image is complete)");
  }
  throw Error(ErrorKind::kFormat, name, "invalid WebP data: " + status_text(s));
}

}  // namespace

CodecResult read_webp(std::span<const std::uint8_t> bytes, const std::string& name,
                      std::int64_t max_pixels, bool pixels) {
  CodecResult result;
  WebPBitstreamFeatures features{};
  const VP8StatusCode st = WebPGetFeatures(bytes.data(), bytes.size(), &features);
  if (st != VP8_STATUS_OK) fail(name, st);
  result.width = features.width;
  result.height = features.height;
  check_pixel_limit(result.width, result.height, max_pixels, name);

  const WebPData data{bytes.data(), bytes.size()};
  std::unique_ptr<WebPDemuxer, DemuxDeleter> demux(WebPDemux(&data));
  if (demux) {
    WebPChunkIterator it{};
    if (WebPDemuxGetChunk(demux.get(), "EXIF", 1, &it)) {
      result.exif = parse_exif({it.chunk.bytes, it.chunk.size}, &result.warnings);
      WebPDemuxReleaseChunkIterator(&it);
    }
  }
  if (!pixels) return result;

  result.image = Image(result.width, result.height);
  const std::size_t stride = static_cast<std::size_t>(result.width) * 3;
  if (!features.has_animation) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) throw Error(ErrorKind::kInternal, name, "libwebp ABI");
    config.output.colorspace = MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = result.image.pixels.data();
    config.output.u.RGBA.stride = static_cast<int>(stride);
    config.output.u.RGBA.size = result.image.pixels.size();
    const VP8StatusCode ds = WebPDecode(bytes.data(), bytes.size(), &config);
    WebPFreeDecBuffer(&config.output);
    if (ds != VP8_STATUS_OK) fail(name, ds);
    return result;
  }

  // Animated: the first frame on the canvas, as Pillow shows it before any seek().
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) throw Error(ErrorKind::kInternal, name, "libwebp ABI");
  options.color_mode = MODE_RGBA;
  std::unique_ptr<WebPAnimDecoder, AnimDeleter> anim(WebPAnimDecoderNew(&data, &options));
  if (!anim) throw Error(ErrorKind::kFormat, name, "invalid animated WebP data");
  WebPAnimInfo info{};
  WebPAnimDecoderGetInfo(anim.get(), &info);
  if (static_cast<int>(info.canvas_width) != result.width ||
      static_cast<int>(info.canvas_height) != result.height) {
    throw Error(ErrorKind::kFormat, name, "inconsistent animated WebP canvas size");
  }
  std::uint8_t* frame = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(anim.get(), &frame, &timestamp)) {
    throw Error(ErrorKind::kFormat, name, "invalid animated WebP frame");
  }
  const std::size_t n = static_cast<std::size_t>(result.width) * result.height;
  std::uint8_t* out = result.image.pixels.data();
  for (std::size_t i = 0; i < n; ++i, frame += 4, out += 3) {
    out[0] = frame[0];
    out[1] = frame[1];
    out[2] = frame[2];
  }
  return result;
}

}  // namespace binscan::detail

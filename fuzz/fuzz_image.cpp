// One image reader (BINSCAN_FUZZ_FORMAT: read_jpeg, read_png or read_webp) on arbitrary bytes,
// called directly so every input reaches the codec whatever its magic number. Bad input must end
// in binscan::Error; anything else (crash, sanitizer report, other exception) is a finding.
#include <cstddef>
#include <cstdint>

#include "image/codecs.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A small pixel cap keeps each run fast and memory bounded; the limit check itself is exercised.
  constexpr std::int64_t kMaxPixels = std::int64_t{1} << 22;
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    (void)binscan::detail::BINSCAN_FUZZ_FORMAT(bytes, "fuzz", kMaxPixels, false);
  } catch (const binscan::Error&) {
  }
  try {
    binscan::detail::CodecResult r =
        binscan::detail::BINSCAN_FUZZ_FORMAT(bytes, "fuzz", kMaxPixels, true);
    if (r.image.width != r.width || r.image.height != r.height ||
        r.image.pixels.size() != static_cast<std::size_t>(r.width) * r.height * 3) {
      __builtin_trap();  // a decoder returned an inconsistent image
    }
    (void)binscan::apply_exif_orientation(r.image, r.exif.orientation);
  } catch (const binscan::Error&) {
  }
#ifdef BINSCAN_FUZZ_SCALED
  // --fast-decode's DCT-scaled decoding, at a scale chosen by the input: the image must be the
  // stored size divided by the denominator, rounded up.
  try {
    const int min_side = size > 0 ? data[size - 1] % 64 + 1 : 1;
    binscan::detail::CodecResult r = binscan::detail::read_jpeg(
        bytes, "fuzz", kMaxPixels, true,
        [min_side](int w, int h) { return w >= min_side && h >= min_side; });
    const int d = r.scale_denominator;
    if ((d != 1 && d != 2 && d != 4 && d != 8) || r.image.width != (r.width + d - 1) / d ||
        r.image.height != (r.height + d - 1) / d ||
        r.image.pixels.size() != static_cast<std::size_t>(r.image.width) * r.image.height * 3) {
      __builtin_trap();
    }
  } catch (const binscan::Error&) {
  }
#endif
  return 0;
}

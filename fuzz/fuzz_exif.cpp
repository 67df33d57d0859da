// The EXIF (TIFF IFD) parser on arbitrary bytes: must never crash, hang or throw.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "image/exif.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> warnings;
  const binscan::Exif e = binscan::parse_exif({data, size}, &warnings);
  if (e.orientation < 1 || e.orientation > 8 || warnings.size() > 16) __builtin_trap();
  return 0;
}

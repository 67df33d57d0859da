#include "cli/photo_preview.h"

#include "image/thumbnail.h"
#include "pipeline/walk.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan::cli {

std::optional<std::vector<std::uint8_t>> photo_preview(const PhotoRecord& photo, int max_side) {
  try {
    const auto bytes = read_file(photo.path);
    if (sha256_hex(bytes) != photo.sha256) return std::nullopt;
    ThumbnailOptions o;
    o.max_side = max_side;
    return make_thumbnail_jpeg(bytes, photo.path, o);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace binscan::cli

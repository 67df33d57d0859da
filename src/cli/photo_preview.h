// Thumbnails of surveyed photos for the HTML report and map.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "store/store.h"

namespace binscan::cli {

// A JPEG preview of the photo as stored: read from its last known path, and only when that file
// still has the content that was classified (a different photo at the same path gets none).
std::optional<std::vector<std::uint8_t>> photo_preview(const PhotoRecord& photo, int max_side);

}  // namespace binscan::cli

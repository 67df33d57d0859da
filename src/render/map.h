// The located bins on a map that works offline: one HTML file with an SVG drawing in metres
// (north up, a scale bar), each photo's position and view towards its bin, each bin as a circle
// the size of its spread, and a table of bins with their coordinates, the photos that show them
// (thumbnails embedded) and a link to open the spot on OpenStreetMap. No tiles are fetched: the
// page makes no request; the GeoJSON export is what goes on a base map (QGIS, geojson.io, uMap).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/locate.h"

namespace binscan {

struct MapOptions {
  std::string title = "binscan: where the trash bins are";
  std::string database;  // shown in the header
  // Returns a JPEG thumbnail of the photo (its bytes), or nullopt when unavailable.
  std::function<std::optional<std::vector<std::uint8_t>>(const PhotoRecord&)> thumbnail;
};

std::string render_map_html(const Located& located, const MapOptions& options);

}  // namespace binscan

// The located bins on a map: one HTML file with Leaflet embedded (no CDN), that works offline.
// OpenStreetMap tiles are drawn under it when the browser can fetch them; without them the map
// is a plain background with the photos, their views and sight lines, the bins, the registry's
// bins, a scale and a layer control, which is readable on its own. It opens on the area where
// most photos are (map_areas), not on everything at once, so a few photos from another town do
// not shrink the street to dots; buttons fit the other areas or all of them. A bin's popup lists
// its photos (thumbnails embedded), their bearings, aims and scores, and draws their sight lines.
// Below the map, the table of bins and the registry check, readable without the script.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/locate.h"

namespace binscan {

// OpenStreetMap's standard tiles (https://operations.osmfoundation.org/policies/tiles/).
inline constexpr const char* kOsmTileUrl = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

struct MapOptions {
  std::string title = "binscan: where the trash bins are";
  std::string database;  // shown in the header
  // Returns a JPEG thumbnail of the photo (its bytes), or nullopt when unavailable.
  std::function<std::optional<std::vector<std::uint8_t>>(const PhotoRecord&)> thumbnail;
  // Leaflet's tile URL template for the base map; empty: no base map, the page fetches nothing.
  std::string tile_url = kOsmTileUrl;
};

// An area the photos were taken in: photos (with a bin or without) chained together by gaps of
// less than about kAreaLinkM, its box reaching around their views and bins.
struct MapArea {
  LatLon south_west, north_east;
  int photos = 0;
};
inline constexpr double kAreaLinkM = 250;

// The areas of the located photos, the most photos first (ties: the one photographed first).
// The map opens on the first. Empty when no photo has a position.
std::vector<MapArea> map_areas(const Located& located);

std::string render_map_html(const Located& located, const MapOptions& options);

}  // namespace binscan

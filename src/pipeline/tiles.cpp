#include "pipeline/tiles.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "util/error.h"

namespace binscan {
namespace {

int parse_count(std::string_view text, std::string_view spec) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 16) {
    throw Error(ErrorKind::kConfig, "--tiles",
                "'" + std::string(spec) +
                    "' is not a tile grid: give COLSxROWS with 1 to 16 each (2x2, 3x2), auto or "
                    "none");
  }
  return value;
}

// `count` tiles of equal size along a side of `size` pixels, overlapping by kTileOverlap:
// (start, length) of each.
std::vector<std::pair<int, int>> spans(int size, int count) {
  if (count <= 1) return {{0, size}};
  const double length = size / (count - (count - 1) * kTileOverlap);
  const int len = std::clamp(static_cast<int>(std::lround(length)), 1, size);
  std::vector<std::pair<int, int>> out;
  for (int i = 0; i < count; ++i) {
    const int start = static_cast<int>(
        std::lround(static_cast<double>(i) * (size - len) / static_cast<double>(count - 1)));
    out.emplace_back(start, len);
  }
  return out;
}

}  // namespace

TileGrid TileGrid::parse(std::string_view spec) {
  TileGrid grid;
  if (spec.empty() || spec == "none") return grid;
  if (spec == "auto") {
    grid.kind = Kind::kAuto;
    return grid;
  }
  const auto x = spec.find_first_of("xX");
  if (x == std::string_view::npos) parse_count("", spec);  // throws with the usage
  grid.cols = parse_count(spec.substr(0, x), spec);
  grid.rows = parse_count(spec.substr(x + 1), spec);
  grid.kind = grid.cols * grid.rows > 1 ? Kind::kGrid : Kind::kNone;
  return grid;
}

std::string TileGrid::spec() const {
  switch (kind) {
    case Kind::kNone:
      return "none";
    case Kind::kAuto:
      return "auto";
    case Kind::kGrid:
      break;
  }
  return layout_spec(cols, rows);
}

std::string layout_spec(int cols, int rows) {
  return std::to_string(cols) + "x" + std::to_string(rows);
}

std::pair<int, int> tile_layout(const TileGrid& grid, int photo_width, int photo_height,
                                int input_side) {
  switch (grid.kind) {
    case TileGrid::Kind::kNone:
      return {1, 1};
    case TileGrid::Kind::kGrid:
      return {grid.cols, grid.rows};
    case TileGrid::Kind::kAuto:
      break;
  }
  const int side = std::max(2 * std::max(input_side, 1), std::min(photo_width, photo_height) / 2);
  const auto count = [&](int size) {
    return std::clamp((size + side - 1) / side, 1, kMaxAutoTilesPerSide);
  };
  return {count(photo_width), count(photo_height)};
}

std::vector<TileBox> tile_boxes(const TileGrid& grid, int photo_width, int photo_height,
                                int input_side) {
  const auto [cols, rows] = tile_layout(grid, photo_width, photo_height, input_side);
  if (cols * rows <= 1 || photo_width < 1 || photo_height < 1) return {};
  std::vector<TileBox> out;
  for (const auto& [y, h] : spans(photo_height, rows)) {
    for (const auto& [x, w] : spans(photo_width, cols)) out.push_back({x, y, w, h});
  }
  return out;
}

}  // namespace binscan

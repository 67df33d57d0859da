// Part of the pipeline layer (see pipeline/photo.h).
//
// Tiled classification: a classifier sees one 224x224 view of a 12-megapixel photo, so a bin 150
// pixels wide shrinks to a few pixels and a centre crop may cut it off. With tiles the photo is
// also cut into overlapping crops, each classified exactly as the model would classify that crop
// saved as a file of its own (Pillow's crop of the oriented photo, then the model's processor),
// so a tile's numbers can be checked with `binscan classify` on the crop.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace binscan {

// A box in the photo as displayed (after its EXIF orientation), in pixels.
struct TileBox {
  int x = 0, y = 0, width = 0, height = 0;
  bool operator==(const TileBox&) const = default;
};

// --tiles: none, COLSxROWS ("2x2", "3x2": three across, two down) or auto.
struct TileGrid {
  enum class Kind { kNone, kGrid, kAuto };
  Kind kind = Kind::kNone;
  int cols = 1, rows = 1;  // kGrid

  bool enabled() const { return kind != Kind::kNone; }
  // "none", "auto", "1x1" (none), "3x2". Throws Error(kConfig) naming the spec otherwise.
  static TileGrid parse(std::string_view spec);
  std::string spec() const;  // as parsed: "none", "auto" or "3x2"
};

// Neighbouring tiles overlap by this share of a tile's side, so a bin on a seam is whole in one.
inline constexpr double kTileOverlap = 0.25;
// The most tiles along one side `auto` makes (a panorama would otherwise make dozens).
inline constexpr int kMaxAutoTilesPerSide = 6;

// The columns and rows of `grid` for a photo of this size; auto: tiles about half the photo's
// short side, and never smaller than twice the model's input side (`input_side`, e.g. 224), so a
// 4032x3024 photo gets 3x2 tiles that show the model a bin 2.5x larger than the whole photo does,
// for 7x the work. A 1x1 result means no tiles.
std::pair<int, int> tile_layout(const TileGrid& grid, int photo_width, int photo_height,
                                int input_side);

// The tiles of a photo, row by row, left to right: `cols` x `rows` boxes of equal size that
// overlap by kTileOverlap and cover the photo edge to edge. Empty when the layout is 1x1.
std::vector<TileBox> tile_boxes(const TileGrid& grid, int photo_width, int photo_height,
                                int input_side);

// "COLSxROWS" of the layout actually used for a photo ("3x2").
std::string layout_spec(int cols, int rows);

}  // namespace binscan

// Occlusion sensitivity (Zeiler & Fergus, 2014): why a model says what it says about a photo. A
// grey patch slides over the model's view of the photo (its resized and cropped input); for each
// position the model runs again, and the drop of the label's probability says how much that
// part of the picture mattered. Model-agnostic (forward passes only, batched), so it works for
// ViT and ResNet alike; a large drop where the bin stands means the model found the bin, a map
// with no peak on it means the model looked elsewhere (the bin too small, hidden, off-centre).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "classify/local_classifier.h"
#include "image/decode.h"
#include "pipeline/tiles.h"

namespace binscan {

struct OcclusionOptions {
  int patch = 32;   // side of the grey square, in the model's input pixels
  int stride = 16;  // step between positions
  int batch = 8;    // occluded copies per forward pass
};

// How the model's view sits in the (oriented) photo: photo = (view + offset) * scale + origin,
// where origin is the corner of the region the model was shown (a tile; 0 for the whole photo).
struct ViewInPhoto {
  double scale_x = 1, scale_y = 1;
  double offset_x = 0, offset_y = 0;  // the crop's corner in the resized image
  double origin_x = 0, origin_y = 0;  // the region's corner in the photo
  int photo_width = 0, photo_height = 0;
  int view_width = 0, view_height = 0;
  std::pair<double, double> to_photo(double x, double y) const {
    return {(x + offset_x) * scale_x + origin_x, (y + offset_y) * scale_y + origin_y};
  }
  std::pair<double, double> to_view(double px, double py) const {
    return {(px - origin_x) / scale_x - offset_x, (py - origin_y) / scale_y - offset_y};
  }
};

struct OcclusionMap {
  int label = 0;  // class id
  std::string label_name;
  double base_score = 0;  // the label's probability on the whole view
  OcclusionOptions options;
  ViewInPhoto view;
  std::vector<int> xs, ys;    // left / top of each patch position, in view pixels
  std::vector<double> drops;  // ys.size() x xs.size(), row-major: base - occluded score
  // The position with the largest drop: its patch centre in view and photo pixels.
  double peak_drop = 0;
  double peak_view_x = 0, peak_view_y = 0;
  double peak_photo_x = 0, peak_photo_y = 0;
  // Per view pixel, the mean drop of the patches covering it (view_height x view_width).
  std::vector<float> heat() const;
};

// Where the processor puts the model's view in a photo of this size (after orientation).
ViewInPhoto view_in_photo(const ImageProcessor& processor, int photo_width, int photo_height);

// The occlusion map of `label` (a class id of the model) on `photo` (decoded with its EXIF
// orientation applied). The grey is RGB (128, 128, 128) put through the model's rescale and
// normalisation. Throws Error naming the photo when the model cannot take it.
OcclusionMap occlusion_map(LocalClassifier& model, const Image& photo, int label,
                           const OcclusionOptions& options);

// The occlusion map of the part `region` of `photo` (a tile: the crop as the model would see it
// saved as a file of its own), placed in the photo: its view and peak are in photo pixels.
OcclusionMap occlusion_map(LocalClassifier& model, const Image& photo, const TileBox& region,
                           int label, const OcclusionOptions& options);

// The map as stored with a survey's result (results.occlusion): compact JSON with the label,
// patch, stride, base score, the region, the view's place in the photo, the positions, the drops
// (4 decimals) and the peak. parse_occlusion returns nullopt for text that is not such a map.
std::string occlusion_to_json(const OcclusionMap& map, const TileBox& region);
struct StoredOcclusion {
  OcclusionMap map;
  TileBox region;
};
std::optional<StoredOcclusion> parse_occlusion(const std::string& json);

// The photo (scaled to at most `max_side` pixels) with the map laid over it: red where covering
// the spot lowers the score, the part of the photo the model does not see darkened, the peak
// circled.
Image occlusion_overlay(const Image& photo, const OcclusionMap& map, int max_side = 800);

}  // namespace binscan

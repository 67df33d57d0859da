// Layer analysis/ owns what a survey means: the trash-bin verdict, comparing models, locating the
// bins. It reads surveys through SurveyReader (below) and stores nothing. May use: pipeline,
// classify and below (never store, render or cli).
//
// What a survey holds, as analysis and rendering read it: the photos (by content hash, with their
// EXIF facts), the models (id and revision) and each model's result for each photo. The store
// persists these records; SurveyReader is the read side analysis works on, so analysis never
// needs to know how (or whether) they are stored.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "classify/classifier.h"  // kDefaultHypothesisTemplate

namespace binscan {

struct PhotoRecord {
  std::string sha256;  // lowercase hex of the file content
  std::string path;    // the path last seen (absolute)
  std::int64_t size = 0;
  std::optional<std::string> format;  // "JPEG", "PNG", "WEBP"
  std::optional<int> width, height;   // oriented, as the models see it
  std::optional<int> orientation;
  std::optional<std::string> taken_at;  // EXIF DateTimeOriginal, local time
  std::optional<std::string> gps_time;  // UTC
  std::optional<double> lat, lon, alt;
  std::optional<double> bearing;
  std::optional<std::string> bearing_ref;  // "T" | "M"
  std::optional<std::string> make, camera_model;
  std::optional<std::string> error;  // why it could not be decoded
  std::optional<int> focal_35mm;     // EXIF FocalLengthIn35mmFilm (schema 2 on)
};

// A model run: the model, and for a zero-shot (CLIP) model the label set it scored against. The
// same CLIP checkpoint with other candidate labels or another template is another model run,
// kept beside the first (schema 5 on), never mistaken for it or replacing it.
struct ModelKey {
  ModelKey() = default;
  ModelKey(std::string model_id, std::string model_revision, std::string labels = {},
           std::string label_template = {})
      : id(std::move(model_id)),
        revision(std::move(model_revision)),
        candidate_labels(std::move(labels)),
        hypothesis_template(std::move(label_template)) {}
  std::string id;
  std::string revision;
  // Zero-shot models: the candidate labels as a JSON array ("[\"a bin\",\"a street\"]") and the
  // hypothesis template; both empty for a classifier.
  std::string candidate_labels;
  std::string hypothesis_template;
  bool operator==(const ModelKey&) const = default;
  bool zero_shot() const { return !candidate_labels.empty(); }
  // "id@revision", and for a zero-shot run its labels: "id@revision [a bin | a street]", plus
  // the template when it is not the pipeline's default.
  std::string display() const;
};

struct ResultRecord {
  std::string sha256;
  ModelKey model;
  bool remote = false;
  std::string top_json;  // [{"label":..., "class_id":..., "score":...}, ...] best first
  std::string top1_label;
  double top1_score = 0;
  double bin_score = 0;
  bool bin_score_exact = true;  // false: a lower bound (only the top-k were known)
  std::optional<int> bin_rank;  // nullopt: not among the known ranks
  int known_ranks = 0;
  std::string bin_labels_json;  // the labels counted as bins
  double threshold = 0;
  bool verdict = false;
  double prepare_ms = 0;  // this photo's preprocessing for this model
  double infer_ms = 0;    // the batch's inference time divided by its size
  int batch_size = 0;
  std::string created_at;  // UTC, ISO 8601
  // How it was made (schema 3 on; older results were made exactly, in fp32): the JPEG DCT scale
  // the photo was decoded at (1 exact, 2/4/8 with --fast-decode) and the engine's precision
  // ("fp32", "bf16", "int8"; none for remote results).
  std::optional<int> decode_scale;
  std::optional<std::string> precision;
  // With --tiles (schema 4 on): the tile layout used ("3x2"), the whole photo's bin score, and the
  // tile with the highest bin score: its box in the photo as displayed, its bin score and top-k.
  // bin_score, bin_rank and verdict are then those of the better of the photo and that tile;
  // top_json stays the whole photo's (what the Hugging Face widget shows).
  std::optional<std::string> tile_grid;
  std::optional<double> photo_bin_score;
  std::optional<double> tile_bin_score;
  std::optional<int> tile_x, tile_y, tile_width, tile_height;
  std::optional<std::string> tile_top_json;
  // `binscan explain --db` (schema 4 on): the occlusion map of the bin label on the photo, or on
  // its best tile when the tile found the bin (analysis/occlusion.h, occlusion_to_json).
  std::optional<std::string> occlusion_json;
  bool tiled() const { return tile_grid.has_value() && tile_width.has_value(); }
};

// A zero-shot run's candidate labels as a JSON array (a stored text that is not one: as is, in
// an array of one).
nlohmann::json candidate_labels_array(const ModelKey& key);

// Reading a survey back, in a stable order (path, then model).
class SurveyReader {
 public:
  virtual ~SurveyReader() = default;
  virtual std::vector<PhotoRecord> photos() = 0;
  virtual std::vector<ResultRecord> results() = 0;
  virtual std::vector<ModelKey> models() = 0;  // in the order they first appeared
};

}  // namespace binscan

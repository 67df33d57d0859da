#include "render/export.h"

#include <map>
#include <nlohmann/json.hpp>

#include "analysis/compare.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan {
namespace {

using json = nlohmann::ordered_json;

// One export row as JSON values keyed by column (null for empty).
json row_json(const PhotoRecord& p, const ResultRecord* r) {
  auto opt_d = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  auto opt_s = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  auto opt_i = [](const std::optional<int>& v) { return v ? json(*v) : json(nullptr); };
  json o = json::object();
  o["path"] = p.path;
  o["sha256"] = p.sha256;
  o["model"] = r ? json(r->model.id) : json(nullptr);
  o["top1_label"] = r ? json(r->top1_label) : json(nullptr);
  o["top1_score"] = r ? json(r->top1_score) : json(nullptr);
  o["bin_score"] = r ? json(r->bin_score) : json(nullptr);
  o["bin_rank"] = r ? opt_i(r->bin_rank) : json(nullptr);
  o["verdict"] = r ? json(r->verdict) : json(nullptr);
  o["lat"] = opt_d(p.lat);
  o["lon"] = opt_d(p.lon);
  o["bearing"] = opt_d(p.bearing);
  o["taken_at"] = opt_s(p.taken_at);
  o["revision"] = r ? json(r->model.revision) : json(nullptr);
  o["bin_score_exact"] = r ? json(r->bin_score_exact) : json(nullptr);
  o["threshold"] = r ? json(r->threshold) : json(nullptr);
  o["alt"] = opt_d(p.alt);
  o["bearing_ref"] = opt_s(p.bearing_ref);
  o["make"] = opt_s(p.make);
  o["camera_model"] = opt_s(p.camera_model);
  o["width"] = opt_i(p.width);
  o["height"] = opt_i(p.height);
  o["error"] = opt_s(p.error);
  // Results from before schema 3 were all made exactly, and local ones in fp32.
  o["decode_scale"] = r ? json(r->decode_scale.value_or(1)) : json(nullptr);
  o["precision"] =
      r ? (r->precision ? json(*r->precision) : (r->remote ? json(nullptr) : json("fp32")))
        : json(nullptr);
  // --tiles (schema 4): the layout, the whole photo's bin score and the best tile.
  const bool tiled = r && r->tiled();
  o["tile_grid"] = tiled ? json(*r->tile_grid) : json(nullptr);
  o["photo_bin_score"] = tiled ? opt_d(r->photo_bin_score) : json(nullptr);
  o["tile_bin_score"] = tiled ? opt_d(r->tile_bin_score) : json(nullptr);
  o["tile_x"] = tiled ? opt_i(r->tile_x) : json(nullptr);
  o["tile_y"] = tiled ? opt_i(r->tile_y) : json(nullptr);
  o["tile_width"] = tiled ? opt_i(r->tile_width) : json(nullptr);
  o["tile_height"] = tiled ? opt_i(r->tile_height) : json(nullptr);
  // A zero-shot (CLIP) result's label set and template (schema 5), which tell its runs apart.
  const bool zero_shot = r && r->model.zero_shot();
  o["candidate_labels"] = zero_shot ? json(candidate_labels_array(r->model)) : json(nullptr);
  o["hypothesis_template"] = zero_shot ? json(r->model.hypothesis_template) : json(nullptr);
  return o;
}

std::string csv_value(const json& v) {
  if (v.is_null()) return "";
  if (v.is_array()) return csv_field(v.dump(-1, ' ', false, json::error_handler_t::replace));
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number()) return format_number(v.get<double>());
  return csv_field(v.get<std::string>());
}

}  // namespace

const std::vector<std::string>& export_columns() {
  static const std::vector<std::string> kColumns{"path",
                                                 "sha256",
                                                 "model",
                                                 "top1_label",
                                                 "top1_score",
                                                 "bin_score",
                                                 "bin_rank",
                                                 "verdict",
                                                 "lat",
                                                 "lon",
                                                 "bearing",
                                                 "taken_at",
                                                 "revision",
                                                 "bin_score_exact",
                                                 "threshold",
                                                 "alt",
                                                 "bearing_ref",
                                                 "make",
                                                 "camera_model",
                                                 "width",
                                                 "height",
                                                 "error",
                                                 "decode_scale",
                                                 "precision",
                                                 "tile_grid",
                                                 "photo_bin_score",
                                                 "tile_bin_score",
                                                 "tile_x",
                                                 "tile_y",
                                                 "tile_width",
                                                 "tile_height",
                                                 "candidate_labels",
                                                 "hypothesis_template"};
  return kColumns;
}

ExportFormat parse_export_format(const std::string& name) {
  if (name == "csv") return ExportFormat::kCsv;
  if (name == "jsonl") return ExportFormat::kJsonl;
  if (name == "geojson") return ExportFormat::kGeoJson;
  throw Error(ErrorKind::kConfig, name, "unknown export format (csv, jsonl or geojson)");
}

std::string export_survey(SurveyReader& store, ExportFormat format) {
  const auto photos = store.photos();
  const auto results = store.results();
  std::map<std::string, std::vector<const ResultRecord*>> by_photo;
  for (const auto& r : results) by_photo[r.sha256].push_back(&r);
  std::vector<json> rows;
  for (const auto& p : photos) {
    const auto it = by_photo.find(p.sha256);
    if (it == by_photo.end() || it->second.empty()) {
      rows.push_back(row_json(p, nullptr));
      continue;
    }
    for (const ResultRecord* r : it->second) rows.push_back(row_json(p, r));
  }
  std::string out;
  switch (format) {
    case ExportFormat::kCsv: {
      const auto& cols = export_columns();
      for (std::size_t i = 0; i < cols.size(); ++i) out += (i ? "," : "") + cols[i];
      out += "\r\n";
      for (const auto& row : rows) {
        for (std::size_t i = 0; i < cols.size(); ++i) {
          if (i) out += ',';
          out += csv_value(row.at(cols[i]));
        }
        out += "\r\n";
      }
      break;
    }
    case ExportFormat::kJsonl:
      for (const auto& row : rows) out += json_text(row) + "\n";
      break;
    case ExportFormat::kGeoJson: {
      json features = json::array();
      for (const auto& row : rows) {
        if (row["lat"].is_null() || row["lon"].is_null()) continue;
        features.push_back(
            {{"type", "Feature"},
             {"geometry", {{"type", "Point"}, {"coordinates", {row["lon"], row["lat"]}}}},
             {"properties", row}});
      }
      out = json_text(json{{"type", "FeatureCollection"}, {"features", features}}, 1) + "\n";
      break;
    }
  }
  return out;
}

}  // namespace binscan

// binscan explain: why a model says what it says about one photo — an occlusion map of the bin
// label's probability (or --label's), the spot that matters most in photo pixels, and a PNG of
// the photo with the map laid over it (analysis/occlusion.h).
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "analysis/occlusion.h"
#include "analysis/verdict.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "image/decode.h"
#include "image/encode.h"
#include "pipeline/photo.h"
#include "store/scan.h"
#include "store/store.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/file.h"
#include "util/progress.h"

namespace binscan::cli {
namespace {

struct ExplainOptions {
  ModelFlags model;
  std::vector<std::string> photos;
  std::string label;  // text or class id; "" = the bin label (ImageNet 412), else the top-1
  OcclusionOptions occlusion;
  std::string png;
  bool json = false;
  TileGrid tiles;  // explain the best tile of this grid instead of the whole photo
  std::string db;  // keep each map with the survey's result for the photo
  bool quiet = false;
};

// The class to explain: --label's, else the trash-bin class, else the model's top-1 for `photo`.
int resolve_label(LocalClassifier& model, const std::string& spec, const DecodedImage& photo,
                  const std::string& name) {
  if (!spec.empty()) {
    try {
      return resolve_bin_labels({spec}, model.info()).class_ids.front();
    } catch (const Error&) {
      throw Error(ErrorKind::kConfig, "--label \"" + spec + "\"",
                  "matches no label of " + model.info().id +
                      " (give a label text, a synonym or a class id)");
    }
  }
  try {
    return resolve_bin_labels({}, model.info()).class_ids.front();
  } catch (const Error&) {
    // No trash-bin class: explain what the model sees most.
    ClassifyInput in;
    in.name = name;
    in.decoded = &photo;
    const PreparedInput p = model.prepare(in);
    return model.run(std::span(&p, 1), 1).at(0).result.value().top.at(0).class_id;
  }
}

// --tiles: the tile of `grid` where `label` scores highest (classified as the scan does).
TileBox best_tile(LocalClassifier& model, const std::vector<std::uint8_t>& bytes,
                  const std::string& name, const TileGrid& grid, int label) {
  const Classifier* one[] = {&model};
  PreparedPhoto prepared = prepare_photo(bytes, name, one, PrepareOptions{false, grid});
  if (prepared.error) throw *prepared.error;
  ModelInput& in = prepared.models.at(0);
  if (in.tiles.empty()) {
    return {0, 0, prepared.decoded->display_width(), prepared.decoded->display_height()};
  }
  std::vector<PreparedInput> inputs;
  for (TileInput& t : in.tiles) {
    if (!t.input) throw *t.error;
    inputs.push_back(std::move(*t.input));
  }
  const auto outcomes = model.run(inputs, 1);
  std::size_t best = 0;
  float best_p = -1;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (!outcomes[i].result) throw *outcomes[i].error;
    const float p = outcomes[i].result->probabilities.at(static_cast<std::size_t>(label));
    if (p > best_p) {
      best_p = p;
      best = i;
    }
  }
  return in.tiles[best].box;
}

nlohmann::ordered_json map_json(const std::string& photo, const std::string& model,
                                const OcclusionMap& m, const TileBox& region) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (std::size_t r = 0; r < m.ys.size(); ++r) {
    rows.push_back(
        std::vector<double>(m.drops.begin() + static_cast<std::ptrdiff_t>(r * m.xs.size()),
                            m.drops.begin() + static_cast<std::ptrdiff_t>((r + 1) * m.xs.size())));
  }
  return {{"photo", photo},
          {"model", model},
          {"label", m.label_name},
          {"class_id", m.label},
          {"score", m.base_score},
          {"patch", m.options.patch},
          {"stride", m.options.stride},
          {"region",
           {{"x", region.x}, {"y", region.y}, {"width", region.width}, {"height", region.height}}},
          {"view", {{"width", m.view.view_width}, {"height", m.view.view_height}}},
          {"view_in_photo",
           {{"scale_x", m.view.scale_x},
            {"scale_y", m.view.scale_y},
            {"offset_x", m.view.offset_x},
            {"offset_y", m.view.offset_y},
            {"origin_x", m.view.origin_x},
            {"origin_y", m.view.origin_y},
            {"photo_width", m.view.photo_width},
            {"photo_height", m.view.photo_height}}},
          {"xs", m.xs},
          {"ys", m.ys},
          {"drops", rows},
          {"peak",
           {{"drop", m.peak_drop},
            {"view_x", m.peak_view_x},
            {"view_y", m.peak_view_y},
            {"photo_x", m.peak_photo_x},
            {"photo_y", m.peak_photo_y}}}};
}

void print_map(const std::string& photo, const OcclusionMap& m, const TileBox& region) {
  std::printf("%s\n", terminal_text(photo).c_str());
  if (region.width != m.view.photo_width || region.height != m.view.photo_height) {
    std::printf("  the tile %dx%d at (%d, %d) of the %dx%d photo\n", region.width, region.height,
                region.x, region.y, m.view.photo_width, m.view.photo_height);
  }
  std::printf("  %s: %.4f on the whole view (%dx%d of the %dx%d %s)\n",
              terminal_text(m.label_name).c_str(), m.base_score, m.view.view_width,
              m.view.view_height, region.width, region.height,
              region.width != m.view.photo_width || region.height != m.view.photo_height ? "tile"
                                                                                         : "photo");
  std::printf("  covering the spot at (%.0f, %.0f) in the photo lowers it most: by %.4f\n",
              m.peak_photo_x, m.peak_photo_y, m.peak_drop);
  std::printf("  %zu positions of a %d-pixel grey patch, every %d pixels of the model's view\n",
              m.drops.size(), m.options.patch, m.options.stride);
}

// One photo, printed (and drawn with --png).
int explain_one(const ExplainOptions& o, LocalClassifier& model) {
  const std::string& name = o.photos.at(0);
  const auto bytes = read_file(name);
  const DecodedImage photo = decode_image(bytes, name);
  const int label = resolve_label(model, o.label, photo, name);
  const TileBox region = o.tiles.enabled() ? best_tile(model, bytes, name, o.tiles, label)
                                           : TileBox{0, 0, photo.image.width, photo.image.height};
  const OcclusionMap m = occlusion_map(model, photo.image, region, label, o.occlusion);
  if (!o.png.empty()) {
    write_png(o.png, occlusion_overlay(photo.image, m));
    std::fprintf(stderr, "wrote %s\n", terminal_text(o.png).c_str());
  }
  if (o.json) {
    std::printf("%s\n", json_text(map_json(name, model.info().id, m, region)).c_str());
  } else {
    print_map(name, m, region);
  }
  return 0;
}

// --db: a map for each photo the model classified in the survey (or each PHOTO given), kept
// with that result; a result whose best tile found the bin gets the map of that tile.
int explain_survey(const ExplainOptions& o, LocalClassifier& model) {
  const auto store = open_store(o.db);
  const ModelKey key = model_key_for(model.info());
  std::set<std::string> wanted;  // content hashes of the PHOTOs given
  for (const auto& p : o.photos) wanted.insert(sha256_hex(read_file(p)));
  std::map<std::string, PhotoRecord> photos;
  for (auto& p : store->photos()) photos.emplace(p.sha256, std::move(p));
  std::vector<ResultRecord> todo;
  for (auto& r : store->results()) {
    if (r.model == key && (wanted.empty() || wanted.count(r.sha256))) todo.push_back(std::move(r));
  }
  if (todo.empty()) {
    throw Error(ErrorKind::kConfig, o.db,
                "no results of " + key.display() + (wanted.empty() ? "" : " for these photos") +
                    " in this survey (scan them with this model first)");
  }
  Progress progress("explaining", static_cast<std::int64_t>(todo.size()), Progress::Unit::kItems,
                    !o.quiet);
  progress.set_item_name("photos");
  int stored = 0, failed = 0;
  for (const ResultRecord& r : todo) {
    const auto& p = photos.at(r.sha256);
    try {
      const auto bytes = read_file(p.path);
      if (sha256_hex(bytes) != r.sha256) {
        throw Error(ErrorKind::kIo, p.path, "changed since it was scanned");
      }
      const DecodedImage photo = decode_image(bytes, p.path);
      const int label = resolve_label(model, o.label, photo, p.path);
      TileBox region{0, 0, photo.image.width, photo.image.height};
      if (r.tiled() && r.tile_bin_score && r.photo_bin_score &&
          *r.tile_bin_score > *r.photo_bin_score) {
        region = {*r.tile_x, *r.tile_y, *r.tile_width, *r.tile_height};
      }
      const OcclusionMap m = occlusion_map(model, photo.image, region, label, o.occlusion);
      if (store->set_occlusion(r.sha256, key, occlusion_to_json(m, region))) ++stored;
      if (o.json) std::printf("%s\n", json_text(map_json(p.path, key.id, m, region)).c_str());
    } catch (const Error& e) {
      ++failed;
      print_warning(e.what());
    }
    progress.advance();
  }
  progress.finish();
  std::fprintf(stderr, "binscan: %d occlusion maps kept in %s%s\n", stored,
               terminal_text(o.db).c_str(),
               failed ? (", " + std::to_string(failed) + " photos failed").c_str() : "");
  return failed ? 1 : 0;
}

int run_explain(const ExplainOptions& o) {
  if (o.db.empty() && o.photos.size() != 1) {
    throw Error(ErrorKind::kConfig, "explain",
                "give one PHOTO, or --db SURVEY to explain the photos of a survey");
  }
  if (!o.db.empty() && !o.png.empty()) {
    throw Error(ErrorKind::kConfig, "--png", "draws one photo; leave out --db");
  }
  if (!o.db.empty() && o.tiles.enabled()) {
    throw Error(ErrorKind::kConfig, "--tiles",
                "with --db the survey's own best tiles are used (scan with --tiles)");
  }
  auto model = open_local_model(o.model.model(), o.model, o.model.threads, o.occlusion.batch);
  return o.db.empty() ? explain_one(o, *model) : explain_survey(o, *model);
}

}  // namespace

void add_explain_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<ExplainOptions>();
  auto* cmd = app.add_subcommand(
      "explain", "Why a model sees (or misses) a bin: an occlusion map of a photo or a survey");
  cmd->footer(
      "Slides a grey square over the model's view of the photo (its resized, cropped input)\n"
      "and runs the model on each copy (batched): where covering the picture lowers the label's\n"
      "probability most is what the model looked at. The label is the trash-bin class\n"
      "(ImageNet 412) unless --label says otherwise (text, synonym or class id); a model without\n"
      "it explains its own top-1 label. Prints the spot in photo pixels (after EXIF orientation);\n"
      "--png writes the photo with the map over it (red: matters; dark: outside the model's\n"
      "view); --json prints every position's drop.\n"
      "\n"
      "--tiles GRID explains the tile of that grid where the label scores highest (the map of\n"
      "that crop, placed in the photo), as `classify --tiles` picks it.\n"
      "\n"
      "--db SURVEY explains every photo the model classified in the survey (or the PHOTOs\n"
      "given) and keeps each map with its result: `binscan compare --html` then draws them over\n"
      "the photos, and `binscan locate` aims each photo's ray at its map's peak. A result whose\n"
      "best tile found the bin (scan --tiles) gets the map of that tile. Each photo costs about\n"
      "(224/stride)^2 forward passes: 169 at the defaults.\n"
      "\n"
      "Examples:\n"
      "  binscan explain -m microsoft/resnet-50 street.jpg --png why.png\n"
      "  binscan explain -m google/vit-base-patch16-224 cats.jpg --label \"tabby cat\" --json\n"
      "  binscan explain -m google/vit-base-patch16-224 --tiles 3x3 street.jpg --png why.png\n"
      "  binscan explain -m microsoft/resnet-50 --db binscan.db");
  ModelFlagsUse use;
  use.remote = false;
  use.fast_decode = false;
  add_model_flags(*cmd, o->model, use);
  cmd->add_option("photos", o->photos, "The photo (with --db: photos of the survey, default all)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--label", o->label, "Label to explain: text, synonym or class id");
  cmd->add_option("--patch", o->occlusion.patch, "Side of the grey square, in model pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--stride", o->occlusion.stride, "Step between positions, in model pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--batch,-b", o->occlusion.batch, "Occluded copies per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  add_tiles_flag(*cmd, o->tiles);
  cmd->add_option("--db", o->db, "Explain the survey's photos and keep the maps in it");
  cmd->add_option("--png", o->png, "Write the photo with the map over it here");
  cmd->add_flag("--json", o->json, "Print the whole map as JSON (with --db: one line per photo)");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress bar");
  cmd->callback([&run, o] { run = [o] { return run_explain(*o); }; });
}

}  // namespace binscan::cli

// binscan locate: where the bins are, from the photos that show one (their GPS position and
// compass bearing) — a summary on stdout, and on request GeoJSON, CSV and an offline HTML map.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/locate.h"
#include "analysis/occlusion.h"
#include "analysis/verdict.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "cli/survey_pages.h"
#include "image/decode.h"
#include "store/postgres_store.h"
#include "store/store.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/file.h"

namespace binscan::cli {
namespace {

struct LocateCliOptions {
  std::string db = "binscan.db";
  std::vector<std::string> models;
  std::string rule = "any";
  std::optional<double> threshold;
  LocateOptions locate;
  std::string geojson, csv, html;
  std::string aim_with;   // a local model whose occlusion peak aims each photo's ray
  std::string aim_label;  // "" = the trash-bin class
  int aim_patch = 32;
  int aim_stride = 16;
  std::string registry;
  double match_radius_m = 15;
  int thumb_size = 120;
  bool thumbnails = true;
  bool tiles = true;
};

int run_locate(const LocateCliOptions& o) {
  const auto store = open_store(o.db, Store::Mode::kReadOnly);
  const Comparison c = compare_models(*store, o.models, o.threshold);
  LocateOptions lo = o.locate;
  lo.rule = o.rule == "all" ? LocateRule::kAll : LocateRule::kAny;
  std::unique_ptr<LocalClassifier> aim_model;
  int aim_label = -1;
  int aimed = 0;
  if (!o.aim_with.empty()) {
    ModelFlags flags;
    flags.models = {o.aim_with};
    aim_model = open_local_model(o.aim_with, flags, 0, 8);
    try {
      const std::vector<std::string> spec =
          o.aim_label.empty() ? std::vector<std::string>{} : std::vector{o.aim_label};
      aim_label = resolve_bin_labels(spec, aim_model->info()).class_ids.front();
    } catch (const Error&) {
      throw Error(ErrorKind::kConfig, "--aim-with " + o.aim_with,
                  o.aim_label.empty()
                      ? "the model has no trash-bin class (ImageNet 412) to look for; name its "
                        "bin label with --aim-label"
                      : "--aim-label \"" + o.aim_label + "\" matches none of its labels");
    }
    lo.bin_across = [&](const PhotoRecord& p) -> std::optional<double> {
      // Only the file that was classified: a different photo at the same path says nothing.
      try {
        const auto bytes = read_file(p.path);
        if (sha256_hex(bytes) != p.sha256) return std::nullopt;
        const DecodedImage photo = decode_image(bytes, p.path);
        OcclusionOptions oo;
        oo.patch = o.aim_patch;
        oo.stride = o.aim_stride;
        const OcclusionMap m = occlusion_map(*aim_model, photo.image, aim_label, oo);
        std::fprintf(stderr, "\raiming: %d photos", ++aimed);
        if (m.peak_drop <= 0) return std::nullopt;  // nothing in the frame lowers the score
        return m.peak_photo_x / photo.image.width;
      } catch (const Error& e) {
        print_warning(std::string("--aim-with: ") + e.what());
        return std::nullopt;
      }
    };
  }
  Located located = locate_bins(c, lo);
  if (aimed) std::fprintf(stderr, "\n");
  if (auto* pg = dynamic_cast<PostgresStore*>(store.get())) {
    // The GIS team's view of the same bins: tables bins and sight_lines (views located_bins,
    // bin_sight_lines), replaced by each locate.
    std::vector<PostgresStore::Bin> bins;
    for (const LocatedBin& b : located.bins) {
      PostgresStore::Bin out{b.id,
                             b.position.lat,
                             b.position.lon,
                             std::string(method_name(b.method)),
                             b.spread_m,
                             b.best_score,
                             {}};
      for (const std::size_t i : b.sightings) {
        const Sighting& s = located.sightings[i];
        out.sights.push_back({s.photo.sha256, s.camera.lat, s.camera.lon});
      }
      bins.push_back(std::move(out));
    }
    pg->replace_bins(bins);
    std::fprintf(stderr, "stored %zu bins in %s (views located_bins, bin_sight_lines)\n",
                 bins.size(), terminal_text(pg->where()).c_str());
  }
  if (!o.registry.empty())
    hold_against_registry(located, read_registry(o.registry), o.match_radius_m);
  std::fputs(terminal_text(located_text(located), /*keep_newlines=*/true).c_str(), stdout);
  if (!o.geojson.empty()) {
    write_output(o.geojson, json_text(located_geojson(located), 1) + "\n");
  }
  if (!o.csv.empty()) {
    write_output(o.csv, located_csv(located));
  }
  if (!o.html.empty()) {
    write_output(o.html, survey_map_html(located, redacted_location(o.db),
                                         o.thumbnails ? o.thumb_size : 0, o.tiles));
  }
  return 0;
}

}  // namespace

void add_locate_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<LocateCliOptions>();
  auto* cmd = app.add_subcommand(
      "locate",
      "Place the bins found by 'binscan scan' on the map, from each photo's GPS position and "
      "compass bearing. Writes GeoJSON, CSV and an offline HTML map on request.");
  cmd->footer(
      "A classifier says that a photo shows a bin, not where in the frame, so:\n"
      "  - a photo alone puts its bin --distance metres ahead along its bearing (projected);\n"
      "  - photos whose estimates lie within --merge-radius of each other are one bin; when they\n"
      "    look at it from directions at least --min-angle apart, the bin is where their viewing\n"
      "    rays cross (triangulated, least squares), if that point is ahead of every camera,\n"
      "    within --max-range and inside each photo's field of view (from its EXIF 35 mm focal\n"
      "    length, else --fov);\n"
      "  - a photo with GPS but no bearing puts its bin at the camera.\n"
      "With --aim-with MODEL each photo's ray is first turned to where in the frame that model's\n"
      "occlusion map peaks (binscan explain), the bin's angle off the camera's axis from the\n"
      "field of view; photos it cannot aim keep their bearing.\n"
      "Each bin gets a spread in metres (at least 3, the noise of phone GPS): the circle on the "
      "map.\n"
      "Phones often record magnetic bearings (GPSImgDirectionRef M): pass --declination, the\n"
      "local magnetic declination in degrees (east positive), to make them true.\n"
      "\n"
      "The map (--html) is one file with Leaflet inside: it opens on the area where most photos\n"
      "are (buttons show the others), draws OpenStreetMap's tiles under the bins when the\n"
      "browser is online (--no-tiles: never) and a plain background when not; clicking a bin\n"
      "shows its photos, sight lines and scores. The GeoJSON goes into QGIS, geojson.io or uMap.\n"
      "\n"
      "Example:\n"
      "  binscan scan photos/ --model google/vit-base-patch16-224\n"
      "  binscan locate --declination 2 --html bins.html --geojson bins.geojson");
  cmd->add_option("--db", o->db,
                  "Survey written by 'binscan scan': an SQLite file or a postgresql:// URI")
      ->capture_default_str();
  cmd->add_option("--models", o->models,
                  "Whose verdicts count, A[,B]: id, id@revision, or the last part of the id "
                  "(default: the one or two models in the database)")
      ->delimiter(',');
  cmd->add_option("--rule", o->rule, "With two models: a photo shows a bin when any or all say so")
      ->capture_default_str()
      ->check(CLI::IsMember({"any", "all"}));
  cmd->add_option("--threshold", o->threshold,
                  "Judge again with this bin-score threshold instead of the one used at scan time")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--distance", o->locate.distance_m,
                  "Assumed distance in metres from a lone photo's camera to its bin")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 200.0));
  cmd->add_option("--merge-radius", o->locate.merge_radius_m,
                  "Estimates closer than this (metres) are the same bin")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 500.0));
  cmd->add_option("--max-range", o->locate.max_range_m,
                  "A crossing of viewing rays farther than this (metres) from a camera is not "
                  "believed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1000.0));
  cmd->add_option("--min-angle", o->locate.min_angle_deg,
                  "Viewing directions must differ by at least this (degrees) to be crossed")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 179.0));
  cmd->add_option("--fov", o->locate.fov_deg,
                  "Horizontal field of view in degrees of photos whose EXIF gives no 35 mm focal "
                  "length (the others get theirs from it and their aspect ratio)")
      ->capture_default_str()
      ->check(CLI::Range(5.0, 180.0));
  cmd->add_option("--declination", o->locate.declination_deg,
                  "Added to magnetic bearings to make them true (degrees, east positive)")
      ->capture_default_str()
      ->check(CLI::Range(-180.0, 180.0));
  cmd->add_option("--geojson", o->geojson,
                  "Write the bins (points) and the photos' sight lines (lines) as GeoJSON here");
  cmd->add_option("--csv", o->csv, "Write one CSV row per bin here");
  cmd->add_option(
      "--html", o->html,
      "Write the HTML map here (one file, works offline; OpenStreetMap under it when online)");
  cmd->add_option("--aim-with", o->aim_with,
                  "A local model (directory or Hub id) whose occlusion map finds where in each "
                  "photo the bin is, so the photo's ray points there instead of straight ahead "
                  "(see binscan explain; about 170 forward passes per photo)");
  cmd->add_option("--aim-label", o->aim_label,
                  "The label --aim-with looks for: text, synonym or class id (default: the trash "
                  "can, ImageNet 412)");
  cmd->add_option("--aim-patch", o->aim_patch, "Occlusion patch for --aim-with, model pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--aim-stride", o->aim_stride, "Occlusion stride for --aim-with, model pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--registry", o->registry,
                  "The city's own bins (GeoJSON points, or CSV with lat/lon columns): each located "
                  "bin matched to the nearest within --match-radius, the ones in view of a photo "
                  "but not found listed as missed, with precision and recall")
      ->check(CLI::ExistingFile);
  cmd->add_option("--match-radius", o->match_radius_m,
                  "Metres within which a located bin is a registry bin")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 1000.0));
  cmd->add_option("--thumb-size", o->thumb_size, "Longer side of map thumbnails in pixels")
      ->capture_default_str()
      ->check(CLI::Range(16, 1024));
  cmd->add_flag("!--no-thumbnails", o->thumbnails, "Leave the photos out of the HTML map");
  cmd->add_flag("!--no-tiles", o->tiles,
                "An HTML map that fetches nothing: no OpenStreetMap tiles under it (by default "
                "the browser loads them when online, telling the tile server where the survey "
                "is), the plain background only");
  cmd->callback([&run, o] { run = [o] { return run_locate(*o); }; });
}

}  // namespace binscan::cli

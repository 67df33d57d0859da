// binscan info: what a photo is — format, size, orientation, GPS, bearing, time, camera — read
// from its headers and EXIF, for people (text) or machines (JSON Lines).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "image/decode.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct InfoOptions {
  std::vector<std::string> paths;
  std::string format = "text";
  bool decode = false;
};

const char* orientation_text(int o) {
  switch (o) {
    case 2:
      return "mirrored horizontally";
    case 3:
      return "rotated 180°";
    case 4:
      return "mirrored vertically";
    case 5:
      return "mirrored horizontally, rotated 270° clockwise";
    case 6:
      return "rotated 90° clockwise";
    case 7:
      return "mirrored horizontally, rotated 90° clockwise";
    case 8:
      return "rotated 270° clockwise";
    default:
      return "upright as stored";
  }
}

template <typename T>
nlohmann::ordered_json or_null(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

// One JSON object per image, always with every key (null when absent), so consumers can rely on
// the shape, in a fixed order. Numbers are printed with full precision (doubles round-trip).
nlohmann::ordered_json to_json(const std::string& path, const ImageInfo& info) {
  using json = nlohmann::ordered_json;
  const Exif& e = info.exif;
  json j;
  j["path"] = path;
  j["format"] = format_name(info.format);
  j["mime_type"] = mime_type(info.format);
  j["width"] = info.width;
  j["height"] = info.height;
  j["stored_width"] = info.stored_width;
  j["stored_height"] = info.stored_height;
  j["orientation"] = e.orientation;
  j["latitude"] = e.gps ? json(e.gps->latitude) : json(nullptr);
  j["longitude"] = e.gps ? json(e.gps->longitude) : json(nullptr);
  j["altitude_m"] = e.gps ? or_null(e.gps->altitude_m) : json(nullptr);
  j["bearing_deg"] = or_null(e.bearing_deg);
  j["bearing_ref"] = e.bearing_ref ? json(std::string(1, *e.bearing_ref)) : json(nullptr);
  j["gps_time_utc"] = or_null(e.gps_time_utc);
  j["taken_at"] = or_null(e.taken_at);
  j["make"] = or_null(e.make);
  j["model"] = or_null(e.model);
  j["focal_length_35mm"] = or_null(e.focal_length_35mm);
  j["warnings"] = info.warnings;
  return j;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string to_text(const std::string& path, const ImageInfo& info) {
  const Exif& e = info.exif;
  std::string out = path + "\n";
  auto line = [&out](const char* key, const std::string& value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "  %-12s ", key);
    out += buf + value + "\n";
  };
  line("format",
       std::string(format_name(info.format)) + " (" + std::string(mime_type(info.format)) + ")");
  std::string size = std::to_string(info.width) + "x" + std::to_string(info.height);
  if (info.width != info.stored_width || info.height != info.stored_height) {
    size += " (stored " + std::to_string(info.stored_width) + "x" +
            std::to_string(info.stored_height) + ")";
  }
  line("size", size);
  line("orientation", std::to_string(e.orientation) + " (" + orientation_text(e.orientation) + ")");
  if (e.gps) {
    std::string gps = fixed(e.gps->latitude, 7) + ", " + fixed(e.gps->longitude, 7);
    if (e.gps->altitude_m) gps += "  altitude " + fixed(*e.gps->altitude_m, 1) + " m";
    line("gps", gps);
  } else {
    line("gps", "-");
  }
  if (e.bearing_deg) {
    std::string b = fixed(*e.bearing_deg, 1) + "°";
    if (e.bearing_ref) b += *e.bearing_ref == 'T' ? " true north (T)" : " magnetic north (M)";
    line("bearing", b);
  } else {
    line("bearing", "-");
  }
  line("gps time", e.gps_time_utc.value_or("-"));
  line("taken at", e.taken_at ? *e.taken_at + " (camera local time)" : "-");
  std::string camera = e.make.value_or("");
  if (e.model) camera += (camera.empty() ? "" : " ") + *e.model;
  line("camera", camera.empty() ? "-" : camera);
  line("focal 35mm",
       e.focal_length_35mm ? std::to_string(*e.focal_length_35mm) + " mm equivalent" : "-");
  return out;
}

int run_info(const InfoOptions& opt) {
  bool first = true;
  return for_each_input(opt.paths, [&](const std::string& path) {
    ImageInfo info;
    if (opt.decode) {
      // The whole pixel stream, to catch truncated or corrupt data the headers do not show.
      DecodedImage d = load_image(path);
      info.format = d.format;
      info.stored_width = d.stored_width;
      info.stored_height = d.stored_height;
      info.width = d.image.width;
      info.height = d.image.height;
      info.exif = std::move(d.exif);
      info.warnings = std::move(d.warnings);
    } else {
      info = probe_image_file(path);
    }
    if (opt.format == "json") {
      std::printf("%s\n", json_text(to_json(path, info)).c_str());
    } else {
      std::printf("%s%s", first ? "" : "\n",
                  terminal_text(to_text(path, info), /*keep_newlines=*/true).c_str());
      for (const auto& w : info.warnings) print_warning(path + ": " + w);
    }
    first = false;
  });
}

}  // namespace

void add_info_command(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand(
      "info",
      "Show what a photo is: format, size, orientation, GPS position, bearing, time, camera");
  cmd->footer(
      "Reads the file headers and EXIF only, so it is fast on large photos; add --decode to\n"
      "also decode the pixels and catch truncated or corrupt image data.\n"
      "Formats are recognised by content (JPEG, PNG, WebP), not by file extension.\n\n"
      "size is as displayed, after the EXIF orientation (what a model sees); the stored size\n"
      "is shown when it differs. bearing is GPSImgDirection, the way the camera faced, relative\n"
      "to true (T) or magnetic (M) north. gps time is UTC; taken at is the camera's local "
      "clock.\n\n"
      "--format json prints one JSON object per line (JSON Lines) with the keys\n"
      "  path format mime_type width height stored_width stored_height orientation latitude\n"
      "  longitude altitude_m bearing_deg bearing_ref gps_time_utc taken_at make model\n"
      "  focal_length_35mm warnings\n"
      "(null when absent; latitude/longitude in signed decimal degrees, north/east positive).\n\n"
      "A file that cannot be read is reported as one line on stderr\n"
      "('binscan: error: PATH: cause'); the others are still shown and the exit status is 1.\n\n"
      "Examples:\n"
      "  binscan info photo.jpg\n"
      "  binscan info --format json photos/*.jpg > photos.jsonl\n");
  cmd->add_option("images", opt->paths, "Image files (JPEG, PNG, WebP)")->required();
  cmd->add_option("--format", opt->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_val("text");
  cmd->add_flag("--decode", opt->decode,
                "Also decode all pixels, to verify the image data is complete");
  cmd->callback([&run, opt] { run = [opt] { return run_info(*opt); }; });
}

}  // namespace binscan::cli

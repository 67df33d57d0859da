// The city's registry of bins, and the located bins held against it (see analysis/locate.h).
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

#include "analysis/locate.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/text.h"

namespace binscan {
namespace {

constexpr double kDeg = std::numbers::pi / 180.0;

// Initial great-circle bearing from `a` to `b`, degrees clockwise from true north.
double bearing_to(LatLon a, LatLon b) {
  const double phi1 = a.lat * kDeg, phi2 = b.lat * kDeg, dl = (b.lon - a.lon) * kDeg;
  const double y = std::sin(dl) * std::cos(phi2);
  const double x = std::cos(phi1) * std::sin(phi2) - std::sin(phi1) * std::cos(phi2) * std::cos(dl);
  const double deg = std::atan2(y, x) / kDeg;
  return deg < 0 ? deg + 360 : deg;
}

double angle_off(double a, double b) {
  const double d = std::fabs(std::fmod(a - b, 360.0));
  return std::min(d, 360.0 - d);
}

bool on_globe(double lat, double lon) {
  return std::isfinite(lat) && std::isfinite(lon) && std::fabs(lat) <= 90 && std::fabs(lon) <= 180;
}

// One RFC 4180 record per line (quoted fields may hold commas and doubled quotes; not newlines,
// which registries do not use in ids).
std::vector<std::string> csv_record(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else if (c != '\r') {
      out.back() += c;
    }
  }
  for (auto& f : out) f = trim(f);
  return out;
}

std::optional<double> number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  try {
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::vector<RegistryBin> read_csv(const std::filesystem::path& path, const std::string& text) {
  std::vector<RegistryBin> out;
  std::size_t pos = 0;
  int line_no = 0;
  int lat_col = -1, lon_col = -1, id_col = -1;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    const std::string_view line(text.data() + pos,
                                (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (trim(line).empty()) continue;
    const auto fields = csv_record(line);
    if (lat_col < 0) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const std::string h = ascii_lower(fields[i]);
        const int col = static_cast<int>(i);
        if (lat_col < 0 && (h == "lat" || h == "latitude" || h == "y")) lat_col = col;
        if (lon_col < 0 &&
            (h == "lon" || h == "lng" || h == "long" || h == "longitude" || h == "x"))
          lon_col = col;
        if (id_col < 0 && (h == "id" || h == "name" || h == "ref")) id_col = col;
      }
      if (lat_col < 0 || lon_col < 0) {
        throw Error(ErrorKind::kFormat, path.string(),
                    "the CSV header names no latitude and longitude columns (lat/latitude/y, "
                    "lon/lng/longitude/x)");
      }
      continue;
    }
    const auto field = [&](int col) {
      return col >= 0 && static_cast<std::size_t>(col) < fields.size() ? fields[col] : "";
    };
    const auto lat = number(field(lat_col)), lon = number(field(lon_col));
    if (!lat || !lon || !on_globe(*lat, *lon)) {
      throw Error(ErrorKind::kFormat, path.string(),
                  "line " + std::to_string(line_no) + ": no valid latitude/longitude (" +
                      field(lat_col) + ", " + field(lon_col) + ")");
    }
    const std::string id = field(id_col);
    out.push_back({id.empty() ? std::to_string(out.size() + 1) : id, {*lat, *lon}});
  }
  return out;
}

std::vector<RegistryBin> read_geojson(const std::filesystem::path& path, const std::string& text) {
  const nlohmann::json doc = parse_json(text, path.string());
  const nlohmann::json* features = nullptr;
  if (doc.is_object() && doc.value("type", "") == "FeatureCollection" && doc.contains("features") &&
      doc["features"].is_array()) {
    features = &doc["features"];
  } else {
    throw Error(ErrorKind::kFormat, path.string(), "not a GeoJSON FeatureCollection");
  }
  std::vector<RegistryBin> out;
  for (std::size_t i = 0; i < features->size(); ++i) {
    const auto& f = (*features)[i];
    const std::string where = "feature " + std::to_string(i + 1);
    if (!f.is_object() || !f.contains("geometry") || !f["geometry"].is_object()) {
      throw Error(ErrorKind::kFormat, path.string(), where + ": no geometry");
    }
    const auto& g = f["geometry"];
    if (g.value("type", "") != "Point") {
      throw Error(ErrorKind::kFormat, path.string(),
                  where + ": a " + g.value("type", std::string("?")) +
                      ", not a Point (a registry holds bins as points)");
    }
    const auto& c = g.contains("coordinates") ? g["coordinates"] : nlohmann::json();
    if (!c.is_array() || c.size() < 2 || !c[0].is_number() || !c[1].is_number() ||
        !on_globe(c[1].get<double>(), c[0].get<double>())) {
      throw Error(ErrorKind::kFormat, path.string(), where + ": coordinates are not [lon, lat]");
    }
    std::string id;
    if (f.contains("properties") && f["properties"].is_object()) {
      for (const char* key : {"id", "name", "ref"}) {
        const auto& v = f["properties"].contains(key) ? f["properties"][key] : nlohmann::json();
        if (v.is_string() && !v.get<std::string>().empty()) id = v.get<std::string>();
        if (v.is_number()) id = v.dump();
        if (!id.empty()) break;
      }
    }
    if (id.empty() && f.contains("id") && (f["id"].is_string() || f["id"].is_number())) {
      id = f["id"].is_string() ? f["id"].get<std::string>() : f["id"].dump();
    }
    out.push_back(
        {id.empty() ? std::to_string(i + 1) : id, {c[1].get<double>(), c[0].get<double>()}});
  }
  return out;
}

}  // namespace

std::vector<RegistryBin> read_registry(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  const auto first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  std::vector<RegistryBin> bins = first != std::string::npos && text[first] == '{'
                                      ? read_geojson(path, text)
                                      : read_csv(path, text);
  if (bins.empty()) throw Error(ErrorKind::kFormat, path.string(), "the registry holds no bins");
  return bins;
}

void hold_against_registry(Located& located, std::vector<RegistryBin> registry,
                           double match_radius_m) {
  RegistryCheck r;
  r.match_radius_m = match_radius_m;
  r.bins = std::move(registry);
  const std::size_t n = r.bins.size();
  r.matched_bin.assign(n, -1);
  r.match_distance_m.assign(n, 0);
  r.covered.assign(n, false);
  r.registry_of_bin.assign(located.bins.size(), -1);

  // Every pair within the radius, nearest first; ties by registry order, then bin order.
  std::vector<std::tuple<double, std::size_t, std::size_t>> pairs;
  for (std::size_t k = 0; k < n; ++k) {
    for (std::size_t b = 0; b < located.bins.size(); ++b) {
      const double d = distance_m(r.bins[k].position, located.bins[b].position);
      if (d <= match_radius_m) pairs.emplace_back(d, k, b);
    }
  }
  std::sort(pairs.begin(), pairs.end());
  for (const auto& [d, k, b] : pairs) {
    if (r.matched_bin[k] >= 0 || r.registry_of_bin[b] >= 0) continue;
    r.matched_bin[k] = static_cast<int>(b);
    r.registry_of_bin[b] = static_cast<int>(k);
    r.match_distance_m[k] = d;
    ++r.matches;
  }
  // Covered: ahead of some camera with a bearing, within range and its field of view.
  const double range = located.options.max_range_m;
  for (std::size_t k = 0; k < n; ++k) {
    for (const auto& v : located.views) {
      if (!v.bearing_true) continue;
      const double d = distance_m(v.camera, r.bins[k].position);
      if (d > range) continue;
      if (d < 1.0 ||
          angle_off(bearing_to(v.camera, r.bins[k].position), *v.bearing_true) <= v.fov_deg / 2) {
        r.covered[k] = true;
        break;
      }
    }
    if (r.matched_bin[k] < 0) (r.covered[k] ? r.missed : r.outside) += 1;
  }
  r.unregistered = static_cast<int>(located.bins.size()) - r.matches;
  if (!located.bins.empty()) {
    r.precision = static_cast<double>(r.matches) / static_cast<double>(located.bins.size());
  }
  if (r.matches + r.missed > 0) {
    r.recall = static_cast<double>(r.matches) / static_cast<double>(r.matches + r.missed);
  }
  located.registry = std::move(r);
}

}  // namespace binscan

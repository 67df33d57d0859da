#include "analysis/locate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numbers>

#include "analysis/occlusion.h"
#include "analysis/occlusion.h"
#include "util/escape.h"

namespace binscan {
namespace {

using json = nlohmann::ordered_json;

constexpr double kDegToRad = std::numbers::pi / 180.0;

// Pinhole camera: a point at fraction f across the frame (0 left edge, 1 right edge) is
// atan((2f - 1) tan(fov / 2)) off the axis, clockwise positive.
double aim_off_axis(double f, double fov_deg) {
  return std::atan((2 * f - 1) * std::tan(fov_deg / 2 * kDegToRad)) / kDegToRad;
}

// Phone GPS is good to a few metres at best: no estimate is drawn tighter than this.
constexpr double kGpsNoiseM = 3.0;

// A point in a local east (x) / north (y) plane in metres.
struct Xy {
  double x = 0;
  double y = 0;
};

Xy operator-(Xy a, Xy b) { return {a.x - b.x, a.y - b.y}; }
double dot(Xy a, Xy b) { return a.x * b.x + a.y * b.y; }
double norm(Xy a) { return std::sqrt(dot(a, a)); }

// Equirectangular about the mean latitude of the two points: exact enough over the few hundred
// metres a bin and its photos span.
Xy to_local(LatLon origin, LatLon p) {
  const double k = kEarthRadiusM * kDegToRad;
  const double mid = (origin.lat + p.lat) / 2 * kDegToRad;
  return {(p.lon - origin.lon) * k * std::max(std::cos(mid), 1e-9), (p.lat - origin.lat) * k};
}

LatLon from_local(LatLon origin, Xy v) {
  const double k = kEarthRadiusM * kDegToRad;
  const double lat = origin.lat + v.y / k;
  const double mid = (origin.lat + lat) / 2 * kDegToRad;
  return {lat, origin.lon + v.x / (k * std::max(std::cos(mid), 1e-9))};
}

// Unit vector of a compass bearing in the east/north plane.
Xy direction(double bearing_deg) {
  return {std::sin(bearing_deg * kDegToRad), std::cos(bearing_deg * kDegToRad)};
}

double normalize_bearing(double deg) {
  const double b = std::fmod(deg, 360.0);
  return b < 0 ? b + 360.0 : b;
}

// The smallest angle between two bearings, 0..180 degrees.
double angle_between(double a_deg, double b_deg) {
  const double d = std::fabs(normalize_bearing(a_deg - b_deg));
  return std::min(d, 360.0 - d);
}

// The direction of the sighting's viewing ray: the camera's bearing, turned towards where in the
// frame the bin is when that is known.
double ray_bearing(const Sighting& s) {
  return normalize_bearing(*s.bearing_true + s.aim_deg.value_or(0.0));
}

// Where one sighting alone puts its bin.
LatLon single_estimate(const Sighting& s, const LocateOptions& o) {
  return s.bearing_true ? destination(s.camera, ray_bearing(s), o.distance_m) : s.camera;
}

LatLon mean_position(const std::vector<LatLon>& points) {
  const LatLon origin = points.front();
  Xy sum;
  for (const auto& p : points) {
    const Xy v = to_local(origin, p);
    sum.x += v.x;
    sum.y += v.y;
  }
  const auto n = static_cast<double>(points.size());
  return from_local(origin, {sum.x / n, sum.y / n});
}

// The point nearest to every viewing ray in the least-squares sense: minimises the sum of squared
// perpendicular distances, i.e. solves sum(I - d d^T) x = sum(I - d d^T) p. Believed only when
// the rays are far enough apart in direction and the point lies ahead of every camera, within
// range and inside its field of view.
std::optional<LatLon> triangulate(const std::vector<const Sighting*>& rays,
                                  const LocateOptions& o) {
  double widest = 0;
  for (std::size_t i = 0; i < rays.size(); ++i) {
    for (std::size_t j = i + 1; j < rays.size(); ++j) {
      widest = std::max(widest, angle_between(ray_bearing(*rays[i]), ray_bearing(*rays[j])));
    }
  }
  if (rays.size() < 2 || widest < o.min_angle_deg) return std::nullopt;
  const LatLon origin = rays.front()->camera;
  double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
  for (const auto* s : rays) {
    const Xy d = direction(ray_bearing(*s));
    const Xy p = to_local(origin, s->camera);
    const double m11 = 1 - d.x * d.x, m12 = -d.x * d.y, m22 = 1 - d.y * d.y;
    a11 += m11;
    a12 += m12;
    a22 += m22;
    b1 += m11 * p.x + m12 * p.y;
    b2 += m12 * p.x + m22 * p.y;
  }
  const double det = a11 * a22 - a12 * a12;
  if (std::fabs(det) < 1e-9) return std::nullopt;
  const Xy x{(a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det};
  for (const auto* s : rays) {
    const Xy to_x = x - to_local(origin, s->camera);
    const double ahead = dot(to_x, direction(ray_bearing(*s)));
    if (ahead <= 0 || norm(to_x) > o.max_range_m) return std::nullopt;
    const double seen_at = std::atan2(to_x.x, to_x.y) / kDegToRad;
    if (angle_between(seen_at, *s->bearing_true) > s->fov_deg / 2) return std::nullopt;
  }
  return from_local(origin, x);
}

// Distance from a point to a sighting's viewing ray (to the camera when it has no bearing).
double distance_to_ray(LatLon p, const Sighting& s) {
  const Xy v = to_local(s.camera, p);
  if (!s.bearing_true) return norm(v);
  const Xy d = direction(ray_bearing(s));
  const double along = std::max(0.0, dot(v, d));
  return norm(v - Xy{d.x * along, d.y * along});
}

// cos(latitude), kept off zero: a (broken) position at a pole must not divide by zero. Nobody
// surveys streets within a kilometre of a pole, where this makes the grid coarse.
double clamped_cos(double lat_deg) { return std::max(std::cos(lat_deg * kDegToRad), 0.01); }

// Group centres bucketed in cells about the merge radius wide, so that finding the groups near a
// point looks at a few cells instead of every group: a city's photos make thousands of bins.
// Cells are square in metres at `ref_lat`; elsewhere the search widens in longitude to match.
class CentreGrid {
 public:
  CentreGrid(double cell_m, double ref_lat)
      : cell_m_(std::max(cell_m, 1.0)), ref_cos_(clamped_cos(ref_lat)) {}

  void insert(std::size_t group, LatLon p) { cells_[cell_of(p)].push_back(group); }

  void move(std::size_t group, LatLon from, LatLon to) {
    const auto a = cell_of(from), b = cell_of(to);
    if (a == b) return;
    auto& old = cells_[a];
    old.erase(std::find(old.begin(), old.end(), group));
    cells_[b].push_back(group);
  }

  // Calls f(group) for every group whose centre may lie within `radius_m` of p (and some more).
  template <class F>
  void for_each_near(LatLon p, double radius_m, F&& f) const {
    const auto [cx, cy] = cell_of(p);
    // Metres per cell in longitude at p's latitude, against ref_lat's.
    const double x_cell_m = cell_m_ * clamped_cos(p.lat) / ref_cos_;
    const auto nx = static_cast<std::int64_t>(std::ceil(radius_m / x_cell_m));
    const auto ny = static_cast<std::int64_t>(std::ceil(radius_m / cell_m_));
    for (std::int64_t dx = -nx; dx <= nx; ++dx) {
      for (std::int64_t dy = -ny; dy <= ny; ++dy) {
        const auto it = cells_.find({cx + dx, cy + dy});
        if (it == cells_.end()) continue;
        for (const auto g : it->second) f(g);
      }
    }
  }

 private:
  using Cell = std::pair<std::int64_t, std::int64_t>;
  Cell cell_of(LatLon p) const {
    const double k = kEarthRadiusM * kDegToRad;
    return {static_cast<std::int64_t>(std::floor(p.lon * k * ref_cos_ / cell_m_)),
            static_cast<std::int64_t>(std::floor(p.lat * k / cell_m_))};
  }
  double cell_m_;
  double ref_cos_;
  std::map<Cell, std::vector<std::size_t>> cells_;
};

// Position, method and spread of one group of sightings.
void place_bin(LocatedBin& bin, const std::vector<Sighting>& all, const LocateOptions& o) {
  std::vector<const Sighting*> members, rays;
  std::vector<LatLon> estimates;
  for (const auto i : bin.sightings) {
    members.push_back(&all[i]);
    if (all[i].bearing_true) rays.push_back(&all[i]);
    estimates.push_back(single_estimate(all[i], o));
    bin.best_score = std::max(bin.best_score, all[i].bin_score);
  }
  double spread = 0;
  if (const auto crossing = triangulate(rays, o)) {
    bin.position = *crossing;
    bin.method = LocateMethod::kTriangulated;
    for (const auto* s : members) spread = std::max(spread, distance_to_ray(*crossing, *s));
  } else {
    bin.position = mean_position(estimates);
    bin.method = rays.empty() ? LocateMethod::kCamera : LocateMethod::kProjected;
    for (const auto& e : estimates) spread = std::max(spread, distance_m(bin.position, e));
    // One photo alone cannot tell how far the bin is: about half the assumed distance either way.
    if (!rays.empty()) spread = std::max(spread, o.distance_m / 2);
  }
  bin.spread_m = std::max(spread, kGpsNoiseM);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

LatLon destination(LatLon from, double bearing_deg, double distance) {
  // The spherical direct problem (exact on the sphere).
  const double delta = distance / kEarthRadiusM;
  const double theta = bearing_deg * kDegToRad;
  const double phi1 = from.lat * kDegToRad;
  const double lambda1 = from.lon * kDegToRad;
  const double sin_phi2 =
      std::sin(phi1) * std::cos(delta) + std::cos(phi1) * std::sin(delta) * std::cos(theta);
  const double phi2 = std::asin(std::clamp(sin_phi2, -1.0, 1.0));
  const double lambda2 = lambda1 + std::atan2(std::sin(theta) * std::sin(delta) * std::cos(phi1),
                                              std::cos(delta) - std::sin(phi1) * sin_phi2);
  double lon = lambda2 / kDegToRad;
  lon = std::fmod(lon + 540.0, 360.0) - 180.0;
  return {phi2 / kDegToRad, lon};
}

double distance_m(LatLon a, LatLon b) {
  const double dphi = (b.lat - a.lat) * kDegToRad;
  const double dlambda = (b.lon - a.lon) * kDegToRad;
  const double h = std::sin(dphi / 2) * std::sin(dphi / 2) +
                   std::cos(a.lat * kDegToRad) * std::cos(b.lat * kDegToRad) *
                       std::sin(dlambda / 2) * std::sin(dlambda / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(h)));
}

double horizontal_fov_deg(int focal_35mm, int width, int height) {
  const double diagonal_mm = std::hypot(36.0, 24.0);
  const double across_mm = diagonal_mm * width / std::hypot(double(width), double(height));
  return 2 * std::atan(across_mm / (2.0 * focal_35mm)) / kDegToRad;
}

std::string_view method_name(LocateMethod m) {
  switch (m) {
    case LocateMethod::kTriangulated:
      return "triangulated";
    case LocateMethod::kProjected:
      return "projected";
    case LocateMethod::kCamera:
      return "camera";
  }
  return "projected";
}

Located locate_bins(const Comparison& c, const LocateOptions& o) {
  Located out;
  out.models = c.models;
  out.options = o;
  for (const auto& row : c.rows) {
    if (row.group == CompareGroup::kIncomplete || row.group == CompareGroup::kFailed) continue;
    ++out.photos;
    const bool any =
        std::find(row.verdicts.begin(), row.verdicts.end(), true) != row.verdicts.end();
    const bool all =
        std::find(row.verdicts.begin(), row.verdicts.end(), false) == row.verdicts.end();
    const auto& p = row.photo;
    // A position that is not a number on the globe (broken EXIF) counts as missing.
    const bool placed = p.lat && p.lon && std::isfinite(*p.lat) && std::isfinite(*p.lon) &&
                        std::fabs(*p.lat) <= 90 && std::fabs(*p.lon) <= 180;
    const bool shows = o.rule == LocateRule::kAny ? any : all;
    std::optional<PhotoView> view;
    if (placed) {
      view = PhotoView{{*p.lat, *p.lon}, std::nullopt, 0, shows};
      if (p.bearing && std::isfinite(*p.bearing)) {
        const bool magnetic = p.bearing_ref && *p.bearing_ref == "M";
        if (shows) out.magnetic += magnetic;
        view->bearing_true = normalize_bearing(*p.bearing + (magnetic ? o.declination_deg : 0.0));
      }
      view->fov_deg = p.focal_35mm && *p.focal_35mm > 0 && p.width && p.height
                          ? horizontal_fov_deg(*p.focal_35mm, *p.width, *p.height)
                          : o.fov_deg;
      out.views.push_back(*view);
    }
    if (!shows) {
      if (placed) out.no_bin.push_back({*p.lat, *p.lon});
      continue;
    }
    ++out.positives;
    if (!placed) {
      ++out.without_gps;
      continue;
    }
    Sighting s;
    s.photo = p;
    s.camera = view->camera;
    s.bearing_true = view->bearing_true;
    if (!s.bearing_true) ++out.without_bearing;
    s.fov_deg = view->fov_deg;
    if (s.bearing_true && o.bin_across) {
      // Pinhole camera: a point at fraction f across the frame is atan((2f - 1) tan(fov / 2))
      // off the axis.
      if (const auto f = o.bin_across(p); f && std::isfinite(*f) && *f >= 0 && *f <= 1) {
        s.aim_deg = aim_off_axis(*f, s.fov_deg);
      }
    }
    if (s.bearing_true && !s.aim_deg && o.aim_from_survey && p.width && *p.width > 0) {
      // What the survey says about where the bin is, from the result of the model that scored
      // it highest: its occlusion map's peak (explain --db), else its best tile's centre when
      // the tile is what found the bin (scan --tiles scored it higher than the whole photo).
      const ResultRecord* best = nullptr;
      for (std::size_t i = 0; i < row.verdicts.size(); ++i) {
        const auto& r = row.results[i];
        if (row.verdicts[i] && r && (!best || r->bin_score > best->bin_score)) best = &*r;
      }
      std::optional<double> across;
      if (best && best->occlusion_json) {
        if (const auto m = parse_occlusion(*best->occlusion_json); m && m->map.peak_drop > 0) {
          across = m->map.peak_photo_x / *p.width;
        }
      }
      if (!across && best && best->tiled() && best->tile_bin_score && best->photo_bin_score &&
          *best->tile_bin_score > *best->photo_bin_score) {
        across = (*best->tile_x + *best->tile_width / 2.0) / *p.width;
      }
      if (across && *across >= 0 && *across <= 1) s.aim_deg = aim_off_axis(*across, s.fov_deg);
    }
    for (std::size_t i = 0; i < row.verdicts.size(); ++i) {
      if (!row.verdicts[i] || !row.results[i]) continue;
      s.bin_score = std::max(s.bin_score, row.results[i]->bin_score);
      s.found_by.push_back(c.models[i].display());
    }
    out.sightings.push_back(std::move(s));
  }
  // Capture order, so a drive past a bin is met as it happened and the result is reproducible.
  std::stable_sort(
      out.sightings.begin(), out.sightings.end(), [](const Sighting& a, const Sighting& b) {
        const auto ta = a.photo.taken_at.value_or(""), tb = b.photo.taken_at.value_or("");
        return ta != tb ? ta < tb : a.photo.path < b.photo.path;
      });

  // Greedy grouping: each sighting joins the group whose running centre (the mean of its members'
  // single-photo estimates) is nearest (ties: the earlier group), when within the merge radius;
  // else it starts a new bin.
  std::vector<std::vector<LatLon>> estimates;
  std::vector<LatLon> centres;
  CentreGrid grid(o.merge_radius_m, out.sightings.empty() ? 0.0 : out.sightings.front().camera.lat);
  for (std::size_t i = 0; i < out.sightings.size(); ++i) {
    const LatLon e = single_estimate(out.sightings[i], o);
    std::size_t best = centres.size();
    double best_d = o.merge_radius_m;
    grid.for_each_near(e, o.merge_radius_m, [&](std::size_t g) {
      const double d = distance_m(centres[g], e);
      if (d < best_d || (d == best_d && g < best)) {
        best_d = d;
        best = g;
      }
    });
    if (best == centres.size()) {
      out.bins.emplace_back();
      out.bins.back().id = static_cast<int>(best) + 1;
      estimates.emplace_back();
      centres.push_back(e);
      grid.insert(best, e);
    }
    out.bins[best].sightings.push_back(i);
    estimates[best].push_back(e);
    const LatLon moved = mean_position(estimates[best]);
    grid.move(best, centres[best], moved);
    centres[best] = moved;
    out.sightings[i].bin = static_cast<int>(best);
  }
  for (auto& bin : out.bins) place_bin(bin, out.sightings, o);
  return out;
}

json located_geojson(const Located& located) {
  json features = json::array();
  auto point = [](LatLon p) { return json::array({p.lon, p.lat}); };
  for (const auto& bin : located.bins) {
    json paths = json::array();
    for (const auto i : bin.sightings) paths.push_back(located.sightings[i].photo.path);
    features.push_back({{"type", "Feature"},
                        {"geometry", {{"type", "Point"}, {"coordinates", point(bin.position)}}},
                        {"properties",
                         {{"kind", "bin"},
                          {"id", bin.id},
                          {"method", method_name(bin.method)},
                          {"spread_m", bin.spread_m},
                          {"best_score", bin.best_score},
                          {"photos", bin.sightings.size()},
                          {"paths", paths}}}});
  }
  for (const auto& s : located.sightings) {
    const LatLon to = located.bins.at(static_cast<std::size_t>(s.bin)).position;
    const auto& p = s.photo;
    features.push_back(
        {{"type", "Feature"},
         {"geometry",
          {{"type", "LineString"}, {"coordinates", json::array({point(s.camera), point(to)})}}},
         {"properties",
          {{"kind", "sighting"},
           {"path", p.path},
           {"sha256", p.sha256},
           {"taken_at", p.taken_at ? json(*p.taken_at) : json(nullptr)},
           {"bearing", p.bearing ? json(*p.bearing) : json(nullptr)},
           {"bearing_ref", p.bearing_ref ? json(*p.bearing_ref) : json(nullptr)},
           {"bearing_true", s.bearing_true ? json(*s.bearing_true) : json(nullptr)},
           {"aim_deg", s.aim_deg ? json(*s.aim_deg) : json(nullptr)},
           {"fov_deg", s.fov_deg},
           {"bin_score", s.bin_score},
           {"found_by", s.found_by},
           {"bin", located.bins[static_cast<std::size_t>(s.bin)].id}}}});
  }
  if (located.registry) {
    const RegistryCheck& r = *located.registry;
    for (std::size_t k = 0; k < r.bins.size(); ++k) {
      const int b = r.matched_bin[k];
      const char* status = b >= 0 ? "matched" : (r.covered[k] ? "missed" : "not covered");
      features.push_back(
          {{"type", "Feature"},
           {"geometry", {{"type", "Point"}, {"coordinates", point(r.bins[k].position)}}},
           {"properties",
            {{"kind", "registry"},
             {"registry_id", r.bins[k].id},
             {"status", status},
             {"covered", static_cast<bool>(r.covered[k])},
             {"bin", b >= 0 ? json(located.bins[static_cast<std::size_t>(b)].id) : json(nullptr)},
             {"distance_m", b >= 0 ? json(r.match_distance_m[k]) : json(nullptr)}}}});
    }
  }
  return {{"type", "FeatureCollection"}, {"features", features}};
}

std::string located_csv(const Located& located) {
  const auto* reg = located.registry ? &*located.registry : nullptr;
  std::string out = "id,lat,lon,method,spread_m,photos,best_score,paths";
  out += reg ? ",registry_id,registry_distance_m\r\n" : "\r\n";
  for (std::size_t b = 0; b < located.bins.size(); ++b) {
    const auto& bin = located.bins[b];
    std::string paths;
    for (const auto i : bin.sightings) {
      paths += (paths.empty() ? "" : ";") + located.sightings[i].photo.path;
    }
    out += std::to_string(bin.id) + "," + format_number(bin.position.lat) + "," +
           format_number(bin.position.lon) + "," + std::string(method_name(bin.method)) + "," +
           fixed(bin.spread_m, 1) + "," + std::to_string(bin.sightings.size()) + "," +
           format_number(bin.best_score) + "," + csv_field(paths);
    if (reg) {
      const int k = reg->registry_of_bin[b];
      out += k < 0 ? ",,"
                   : "," + csv_field(reg->bins[static_cast<std::size_t>(k)].id) + "," +
                         fixed(reg->match_distance_m[static_cast<std::size_t>(k)], 1);
    }
    out += "\r\n";
  }
  return out;
}

std::string located_text(const Located& l) {
  std::string models;
  for (const auto& m : l.models) models += (models.empty() ? "" : ", ") + m.display();
  const char* rule =
      l.models.size() < 2 ? "" : (l.options.rule == LocateRule::kAny ? "any of " : "all of ");
  std::string s = std::to_string(l.photos) + " photos classified by " + rule + models + "; " +
                  std::to_string(l.positives) + " show a bin";
  if (l.without_gps)
    s += ", " + std::to_string(l.without_gps) + " of them without GPS (not placed)";
  s += "\n";
  int counts[3] = {0, 0, 0};
  for (const auto& b : l.bins) ++counts[static_cast<int>(b.method)];
  s += "located " + std::to_string(l.bins.size()) + (l.bins.size() == 1 ? " bin" : " bins") +
       " from " + std::to_string(l.sightings.size()) + " photos: " + std::to_string(counts[0]) +
       " triangulated, " + std::to_string(counts[1]) + " projected " +
       fixed(l.options.distance_m, 0) + " m ahead, " + std::to_string(counts[2]) +
       " at the camera (no bearing)\n";
  if (l.magnetic) {
    s += std::to_string(l.magnetic) + " bearings are magnetic; ";
    s += l.options.declination_deg == 0
             ? "taken as true (pass --declination DEG, the local magnetic declination, east "
               "positive, to correct them)\n"
             : "corrected by " + fixed(l.options.declination_deg, 1) + " degrees\n";
  }
  const auto* reg = l.registry ? &*l.registry : nullptr;
  for (std::size_t i = 0; i < l.bins.size(); ++i) {
    const auto& b = l.bins[i];
    std::string registry;
    if (reg) {
      const int k = reg->registry_of_bin[i];
      registry = k < 0 ? "; not in the registry"
                       : "; registry " + reg->bins[static_cast<std::size_t>(k)].id + " at " +
                             fixed(reg->match_distance_m[static_cast<std::size_t>(k)], 1) + " m";
    }
    s += "  bin " + std::to_string(b.id) + "  " + fixed(b.position.lat, 6) + ", " +
         fixed(b.position.lon, 6) + "  " + std::string(method_name(b.method)) + ", +/-" +
         fixed(b.spread_m, 0) + " m, " + std::to_string(b.sightings.size()) +
         (b.sightings.size() == 1 ? " photo" : " photos") + ", best bin score " +
         fixed(b.best_score, 3) + registry + "\n";
    std::string aims;
    for (const auto k : b.sightings) {
      const Sighting& sg = l.sightings[k];
      if (!sg.aim_deg) continue;
      const std::string name = std::filesystem::path(sg.photo.path).filename().string();
      aims += (aims.empty() ? "" : ", ") + name + " " + (*sg.aim_deg >= 0 ? "+" : "") +
              fixed(*sg.aim_deg, 1) + " deg";
    }
    if (!aims.empty()) s += "    aimed off-axis: " + aims + "\n";
  }
  if (reg) {
    const auto pct = [](const std::optional<double>& v) {
      return v ? fixed(100 * *v, 0) + "%" : std::string("n/a");
    };
    s += "registry: " + std::to_string(reg->bins.size()) + " bins; " +
         std::to_string(reg->matches) + " matched within " + fixed(reg->match_radius_m, 0) +
         " m, " + std::to_string(reg->missed) + " missed (in view of a photo, not found), " +
         std::to_string(reg->outside) + " not covered by the photos; " +
         std::to_string(reg->unregistered) + " located bins not in the registry\n";
    s += "precision " + pct(reg->precision) + " (located bins that are registry bins), recall " +
         pct(reg->recall) + " (covered registry bins found)\n";
    for (std::size_t k = 0; k < reg->bins.size(); ++k) {
      if (reg->matched_bin[k] < 0 && reg->covered[k]) {
        s += "  missed: registry " + reg->bins[k].id + "  " + fixed(reg->bins[k].position.lat, 6) +
             ", " + fixed(reg->bins[k].position.lon, 6) + "\n";
      }
    }
  }
  return s;
}

}  // namespace binscan

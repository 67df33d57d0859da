// Locating trash bins from the photos that show one: each such photo is a sighting — the camera's
// GPS position and compass bearing say the bin lies somewhere ahead, within the lens's field of
// view. A classifier does not say where in the frame the bin is, so one photo places it at an
// assumed distance along the bearing ("projected"); photos of the same bin from different
// directions (a scan car driving past) pin it down where their viewing rays cross
// ("triangulated", least squares). Sightings whose estimates fall close together are one bin.
//
// Geometry is done in a local east/north plane in metres (equirectangular about the point in
// question; at street scale its error is far below GPS noise), on a sphere of the mean Earth
// radius.
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/compare.h"

namespace binscan {

struct LatLon {
  double lat = 0;  // degrees
  double lon = 0;  // degrees
};

inline constexpr double kEarthRadiusM = 6371008.8;  // IUGG mean radius

// The point `distance_m` from `from` in the direction `bearing_deg` (clockwise from true north).
LatLon destination(LatLon from, double bearing_deg, double distance_m);
// Great-circle distance in metres (haversine).
double distance_m(LatLon a, LatLon b);

// The horizontal field of view of a photo width x height (as displayed) taken at this 35 mm
// equivalent focal length: the equivalent frame has the 43.27 mm diagonal of 36 x 24 mm film,
// with the photo's own aspect ratio (a Pixel 4's 27 mm: 65.3 degrees in landscape, 51.4 in
// portrait).
double horizontal_fov_deg(int focal_35mm, int width, int height);

enum class LocateRule {
  kAny,  // a photo is a sighting when any of the models finds a bin
  kAll,  // ... only when every model does
};

struct LocateOptions {
  double distance_m = 8;       // assumed camera-to-bin distance for a photo that stands alone
  double merge_radius_m = 10;  // sightings whose estimates lie closer than this are one bin
  double max_range_m = 40;     // a crossing farther than this from a camera is not believed
  double min_angle_deg = 10;   // rays closer in direction than this cannot be crossed reliably
  double declination_deg = 0;  // added to magnetic ("M") bearings to make them true
  // The horizontal field of view of photos whose EXIF gives no 35 mm focal length (others get
  // theirs from it, see horizontal_fov_deg): a crossing must lie inside each photo's view.
  double fov_deg = 60;
  LocateRule rule = LocateRule::kAny;
  // Where across a photo (as displayed: 0 its left edge, 1 its right edge) its bin is, when known
  // (e.g. the peak of an occlusion map): the photo's ray then points there instead of straight
  // ahead. Unset, or nullopt for a photo: straight ahead.
  std::function<std::optional<double>(const PhotoRecord&)> bin_across;
  // Unless bin_across placed it, a photo is aimed at what the survey says about where its bin
  // is: the peak of its stored occlusion map (explain --db), else, scanned with --tiles, the
  // centre of its best tile when that tile scored the bin higher than the whole photo did.
  bool aim_from_survey = true;
};

// One photo in which a bin was found.
struct Sighting {
  PhotoRecord photo;
  LatLon camera;
  std::optional<double> bearing_true;  // degrees; nullopt: the photo has no bearing
  double fov_deg = 0;                  // horizontal field of view
  // The bin's angle off the camera's axis (degrees, clockwise positive), when the photo says
  // where in the frame it is; the viewing ray is bearing_true + aim_deg.
  std::optional<double> aim_deg;
  double bin_score = 0;               // the highest bin score among the models that found it
  std::vector<std::string> found_by;  // model labels ("A", "B") that found the bin
  int bin = -1;                       // index into Located::bins
};

enum class LocateMethod {
  kTriangulated,  // the viewing rays of two or more photos cross here
  kProjected,     // the mean of points at the assumed distance along each photo's bearing
  kCamera,        // no bearing: the camera positions' mean (the bin is near)
};
std::string_view method_name(LocateMethod m);  // "triangulated", "projected", "camera"

struct LocatedBin {
  int id = 0;  // 1-based, in order of first sighting
  LatLon position;
  LocateMethod method = LocateMethod::kProjected;
  // How far the sightings' own estimates spread around `position` (metres, at least the
  // GPS-noise floor): a size for the circle drawn on the map, not a statistical bound.
  double spread_m = 0;
  double best_score = 0;
  std::vector<std::size_t> sightings;  // indices into Located::sightings
};

// Where a photo with a position was taken and which way it looked: the ground it covers.
struct PhotoView {
  LatLon camera;
  std::optional<double> bearing_true;  // nullopt: no bearing
  double fov_deg = 0;
  bool shows_bin = false;
};

// A bin of the city's own registry (an open-data export of its containers).
struct RegistryBin {
  std::string id;  // the registry's id or name, else the 1-based row / feature number
  LatLon position;
};

// The located bins held against the registry.
struct RegistryCheck {
  double match_radius_m = 0;
  std::vector<RegistryBin> bins;
  // Per registry bin: the located bin (index into Located::bins) matched to it, or -1.
  std::vector<int> matched_bin;
  std::vector<double> match_distance_m;  // per registry bin, when matched
  // Per registry bin: inside the ground the photos covered (some photo with a bearing has it
  // within --max-range and inside its field of view).
  std::vector<bool> covered;
  // Per located bin: the registry bin (index) matched to it, or -1.
  std::vector<int> registry_of_bin;
  int matches = 0;
  int missed = 0;        // covered registry bins no located bin matched
  int outside = 0;       // registry bins the photos did not cover (and not matched)
  int unregistered = 0;  // located bins with no registry bin
  // matches / located bins, and matches / (matches + missed); nullopt when undefined.
  std::optional<double> precision, recall;
};

struct Located {
  std::vector<ModelKey> models;
  LocateOptions options;
  std::vector<Sighting> sightings;
  std::vector<LocatedBin> bins;
  std::vector<LatLon> no_bin;    // where the photos that show no bin were taken: ground covered
  std::vector<PhotoView> views;  // every photo with a position, with or without a bin
  std::optional<RegistryCheck> registry;  // set by hold_against_registry
  int photos = 0;           // photos considered (with a result from the compared models)
  int positives = 0;        // photos in which a bin was found
  int without_gps = 0;      // positives that could not be placed
  int without_bearing = 0;  // positives placed at the camera
  int magnetic = 0;         // sightings whose bearing was magnetic
};

// Sightings from a comparison (its verdicts, with the rule over its one or two models), grouped
// into bins. Deterministic: sightings are taken in order of capture time, then path.
Located locate_bins(const Comparison& comparison, const LocateOptions& options);

// Reads a registry of bins: GeoJSON (Point features; the id from properties "id", "name" or
// "ref", else the feature's "id", else its number) or CSV with a header naming the latitude and
// longitude columns (lat/latitude/y and lon/lng/long/longitude/x, any case; an optional
// id/name/ref column), by content. Throws Error(kFormat) naming the file and the row or feature.
std::vector<RegistryBin> read_registry(const std::filesystem::path& path);

// Matches each located bin to the nearest registry bin within `match_radius_m`, one to one
// (greedily by distance, nearest pair first: the assignment a person drawing lines on a map
// makes), and counts the registry bins the photos covered but nothing matched (missed), those
// they did not cover, and the located bins with no registry bin. Sets located.registry.
void hold_against_registry(Located& located, std::vector<RegistryBin> registry,
                           double match_radius_m);

// A FeatureCollection: each bin a Point (properties id, method, spread_m, best_score, photos,
// paths) and each sighting a LineString from the camera to its bin (properties kind "sighting",
// path, bearing, bin). RFC 7946 [lon, lat] order.
nlohmann::ordered_json located_geojson(const Located& located);
// One row per bin: id, lat, lon, method, spread_m, photos, best_score, paths (RFC 4180).
std::string located_csv(const Located& located);
// The summary printed on stdout.
std::string located_text(const Located& located);

}  // namespace binscan

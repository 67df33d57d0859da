// Synthetic surveys for the locate and map tests: photos ("shots") at given positions and
// bearings, with or without a bin, made into the comparison locate_bins reads.
#pragma once

#include <cmath>
#include <numbers>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analysis/locate.h"

namespace binscan::test {

inline constexpr double kRad = std::numbers::pi / 180;

// Initial great-circle bearing from a to b, degrees clockwise from north.
inline double bearing_to(LatLon a, LatLon b) {
  const double p1 = a.lat * kRad, p2 = b.lat * kRad, dl = (b.lon - a.lon) * kRad;
  const double t =
      std::atan2(std::sin(dl) * std::cos(p2),
                 std::cos(p1) * std::sin(p2) - std::sin(p1) * std::cos(p2) * std::cos(dl));
  return std::fmod(t / kRad + 360, 360);
}

struct Shot {
  Shot(LatLon at_, std::optional<double> bearing_, std::string ref_ = "T", bool found_ = true,
       double score_ = 0.5, std::string taken_at_ = "")
      : at(at_),
        bearing(bearing_),
        ref(std::move(ref_)),
        found(found_),
        score(score_),
        taken_at(std::move(taken_at_)) {}
  LatLon at;
  std::optional<double> bearing;
  std::string ref;
  bool found;
  double score;
  std::string taken_at;
  bool gps = true;
};

inline PhotoComparison photo_row(const Shot& s, const std::vector<bool>& verdicts) {
  PhotoComparison row;
  static int g_photo = 0;  // numbers the photos of a test program
  row.photo.sha256 = "sha" + std::to_string(++g_photo);
  row.photo.path = "/photos/" + std::to_string(g_photo) + ".jpg";
  if (s.gps) {
    row.photo.lat = s.at.lat;
    row.photo.lon = s.at.lon;
  }
  row.photo.bearing = s.bearing;
  if (s.bearing) row.photo.bearing_ref = s.ref;
  row.photo.taken_at =
      s.taken_at.empty() ? "2022-01-19T12:00:" + std::to_string(10 + g_photo % 50) : s.taken_at;
  for (const bool v : verdicts) {
    ResultRecord r;
    r.sha256 = row.photo.sha256;
    r.bin_score = v ? s.score : s.score / 10;
    r.verdict = v;
    row.results.emplace_back(r);
    row.verdicts.push_back(v);
  }
  const bool a = verdicts[0], b = verdicts.size() > 1 ? verdicts[1] : a;
  row.group = a && b ? CompareGroup::kBoth
              : a    ? CompareGroup::kOnlyA
              : b    ? CompareGroup::kOnlyB
                     : CompareGroup::kNeither;
  return row;
}

inline Comparison one_model(const std::vector<Shot>& shots) {
  Comparison c;
  c.models = {{"google/vit-base-patch16-224", "main"}};
  for (const auto& s : shots) c.rows.push_back(photo_row(s, {s.found}));
  return c;
}

}  // namespace binscan::test

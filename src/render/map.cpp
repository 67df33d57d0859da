#include "render/map.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>

#include "render/report.h"
#include "util/escape.h"
#include "util/text.h"

namespace binscan {
namespace {

constexpr const char* kStyle = R"css(
svg{border:1px solid #ddd;border-radius:6px;background:#fbfbf8;max-width:100%;height:auto}
.view{fill:#1f6fd0;fill-opacity:.08;stroke:none}
.ray{stroke:#1f6fd0;stroke-opacity:.55;stroke-width:1.2}
.camera{fill:#1f6fd0}.nobin{fill:#bbb}
.bin{fill:#2a9d3a;fill-opacity:.25;stroke:#1d7a2b;stroke-width:1.5}
.bin.projected{fill:#d08700;stroke:#a86c00}.bin.camera{fill:#999;stroke:#666}
.bin.hi{fill-opacity:.6;stroke-width:3}
.binid{font-size:11px;font-weight:600;fill:#123;text-anchor:middle;dominant-baseline:central;pointer-events:none}
.scale{stroke:#222;stroke-width:2}.scale-text,.north{font-size:12px;fill:#222}
.legend{font-size:12px;color:#444;margin:6px 0}.legend span{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 12px;vertical-align:middle}
.reg{fill:#fff;stroke:#6b3fa0;stroke-width:1.5}.reg.matched{fill:#6b3fa0;fill-opacity:.35}
.reg.missed{fill:#d1242f;fill-opacity:.8;stroke:#8c1019;stroke-width:2}
tr.hi{background:#eef8ef}tr.missed td{color:#8c1019}
.thumbs{display:flex;flex-wrap:wrap;gap:4px}
.thumbs img{display:block;max-width:120px;max-height:120px;border-radius:3px}
.thumbs .none{font-family:ui-monospace,monospace;font-size:11px;color:#666;word-break:break-all;max-width:160px}
)css";

// Highlights a bin on the map and its table row together; reports script errors on the page.
constexpr const char* kScript = R"js(
(function(){
  window.addEventListener('error',function(ev){var e=document.getElementById('errors');if(e){var d=document.createElement('div');d.textContent='script error: '+ev.message;e.appendChild(d);}});
  function mark(id,on){
    var els=document.querySelectorAll('[data-bin="'+id+'"]');
    Array.prototype.forEach.call(els,function(el){el.classList.toggle('hi',on);});
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-bin]'),function(el){
    var id=el.getAttribute('data-bin');
    el.addEventListener('mouseenter',function(){mark(id,true);});
    el.addEventListener('mouseleave',function(){mark(id,false);});
  });
  document.body.setAttribute('data-rendered-bins',String(document.querySelectorAll('svg circle.bin').length));
  document.body.setAttribute('data-ready','1');
})();
)js";

constexpr double kDegToRad = std::numbers::pi / 180.0;

std::string num(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A round length (1, 2 or 5 times a power of ten) near `about` metres, for the scale bar.
double round_length(double about) {
  const double p = std::pow(10.0, std::floor(std::log10(std::max(about, 1e-3))));
  for (const double m : {5.0, 2.0, 1.0}) {
    if (m * p <= about) return m * p;
  }
  return p;
}

// Map drawing: an equirectangular plane about `origin`, metres to pixels, north up.
class Canvas {
 public:
  Canvas(LatLon origin, double min_x, double max_x, double min_y, double max_y)
      : origin_(origin), min_x_(min_x), max_y_(max_y) {
    const double w = std::max(max_x - min_x, 1.0), h = std::max(max_y - min_y, 1.0);
    scale_ = std::min(kMaxWidth / w, kMaxHeight / h);
    width_ = w * scale_ + 2 * kMargin;
    height_ = h * scale_ + 2 * kMargin;
  }
  static std::pair<double, double> metres(LatLon origin, LatLon p) {
    const double k = kEarthRadiusM * kDegToRad;
    return {(p.lon - origin.lon) * k * std::cos(origin.lat * kDegToRad), (p.lat - origin.lat) * k};
  }
  std::pair<double, double> px(LatLon p) const {
    const auto [x, y] = metres(origin_, p);
    return {kMargin + (x - min_x_) * scale_, kMargin + (max_y_ - y) * scale_};
  }
  double scale() const { return scale_; }
  double width() const { return width_; }
  double height() const { return height_; }

 private:
  static constexpr double kMaxWidth = 1000, kMaxHeight = 640, kMargin = 30;
  LatLon origin_;
  double min_x_, max_y_;
  double scale_ = 1, width_ = 0, height_ = 0;
};

std::string svg_map(const Located& l) {
  if (l.sightings.empty() && l.no_bin.empty()) {
    return "<p id=\"nomap\">No photo has a GPS position.</p>\n";
  }
  const LatLon origin = l.sightings.empty() ? l.no_bin.front() : l.sightings.front().camera;
  const double reach = l.options.distance_m * 1.25;  // how far a view wedge is drawn
  double min_x = 1e300, max_x = -1e300, min_y = 1e300, max_y = -1e300;
  auto extend = [&](LatLon p, double r) {
    const auto [x, y] = Canvas::metres(origin, p);
    min_x = std::min(min_x, x - r);
    max_x = std::max(max_x, x + r);
    min_y = std::min(min_y, y - r);
    max_y = std::max(max_y, y + r);
  };
  for (const auto& s : l.sightings) extend(s.camera, reach);
  for (const auto& b : l.bins) extend(b.position, b.spread_m);
  for (const auto& p : l.no_bin) extend(p, 2);
  // Registry bins are drawn where the photos reached (covered or matched); the rest would only
  // stretch the drawing over the whole city.
  const auto drawn = [&](std::size_t k) {
    return l.registry->covered[k] || l.registry->matched_bin[k] >= 0;
  };
  if (l.registry) {
    for (std::size_t k = 0; k < l.registry->bins.size(); ++k) {
      if (drawn(k)) extend(l.registry->bins[k].position, 4);
    }
  }
  const Canvas c(origin, min_x, max_x, min_y, max_y);

  std::string h = "<svg id=\"map\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                  num(c.width(), 0) + "\" height=\"" + num(c.height(), 0) + "\" viewBox=\"0 0 " +
                  num(c.width(), 0) + " " + num(c.height(), 0) + "\">\n<g class=\"covered\">";
  for (const auto& p : l.no_bin) {
    const auto [x, y] = c.px(p);
    h += "<circle class=\"nobin\" cx=\"" + num(x, 1) + "\" cy=\"" + num(y, 1) + "\" r=\"2\"/>";
  }
  h += "</g>\n<g class=\"views\">";
  for (const auto& s : l.sightings) {
    if (!s.bearing_true) continue;
    const auto [cx, cy] = c.px(s.camera);
    const auto [lx, ly] = c.px(destination(s.camera, *s.bearing_true - s.fov_deg / 2, reach));
    const auto [rx, ry] = c.px(destination(s.camera, *s.bearing_true + s.fov_deg / 2, reach));
    const double r = reach * c.scale();
    h += "<path class=\"view\" d=\"M" + num(cx, 1) + " " + num(cy, 1) + " L" + num(lx, 1) + " " +
         num(ly, 1) + " A" + num(r, 1) + " " + num(r, 1) + " 0 0 1 " + num(rx, 1) + " " +
         num(ry, 1) + " Z\"/>";
  }
  h += "</g>\n<g class=\"rays\">";
  for (const auto& s : l.sightings) {
    const auto& bin = l.bins[static_cast<std::size_t>(s.bin)];
    const auto [cx, cy] = c.px(s.camera);
    const auto [bx, by] = c.px(bin.position);
    h += "<line class=\"ray\" data-bin=\"" + std::to_string(bin.id) + "\" x1=\"" + num(cx, 1) +
         "\" y1=\"" + num(cy, 1) + "\" x2=\"" + num(bx, 1) + "\" y2=\"" + num(by, 1) + "\"/>";
  }
  h += "</g>\n<g class=\"cameras\">";
  for (const auto& s : l.sightings) {
    const auto [cx, cy] = c.px(s.camera);
    std::string tip = s.photo.path;
    if (s.photo.bearing) {
      tip +=
          "\nbearing " + num(*s.photo.bearing, 0) + "\xC2\xB0 " + s.photo.bearing_ref.value_or("");
    }
    tip += "\nbin score " + num(s.bin_score, 3);
    h += "<circle class=\"camera\" cx=\"" + num(cx, 1) + "\" cy=\"" + num(cy, 1) +
         "\" r=\"3\"><title>" + svg_escape(tip) + "</title></circle>";
  }
  h += "</g>\n<g class=\"bins\">";
  for (const auto& b : l.bins) {
    const auto [bx, by] = c.px(b.position);
    const std::string id = std::to_string(b.id);
    const std::string tip = "bin " + id + " (" + std::string(method_name(b.method)) + ", \xC2\xB1" +
                            num(b.spread_m, 0) + " m, " + std::to_string(b.sightings.size()) +
                            " photos)";
    h += "<circle class=\"bin " + std::string(method_name(b.method)) + "\" data-bin=\"" + id +
         "\" cx=\"" + num(bx, 1) + "\" cy=\"" + num(by, 1) + "\" r=\"" +
         num(std::max(7.0, b.spread_m * c.scale()), 1) + "\"><title>" + svg_escape(tip) +
         "</title></circle><text class=\"binid\" x=\"" + num(bx, 1) + "\" y=\"" + num(by, 1) +
         "\">" + id + "</text>";
  }
  h += "</g>\n";
  if (l.registry) {
    // The registry's bins as squares: filled when matched, red when in view but not found.
    h += "<g class=\"registry\">";
    const RegistryCheck& r = *l.registry;
    for (std::size_t k = 0; k < r.bins.size(); ++k) {
      if (!drawn(k)) continue;
      const auto [x, y] = c.px(r.bins[k].position);
      const bool matched = r.matched_bin[k] >= 0;
      const std::string tip = "registry " + r.bins[k].id +
                              (matched ? " (matched, " + num(r.match_distance_m[k], 1) + " m)"
                                       : " (missed: in view, not found)");
      h += "<rect class=\"reg " + std::string(matched ? "matched" : "missed") + "\" x=\"" +
           num(x - 4, 1) + "\" y=\"" + num(y - 4, 1) + "\" width=\"8\" height=\"8\"><title>" +
           svg_escape(tip) + "</title></rect>";
    }
    h += "</g>\n";
  }
  // Scale bar (bottom left) and north arrow (top right).
  const double bar_m = round_length(c.width() / c.scale() / 5);
  const double bar_px = bar_m * c.scale();
  const double y = c.height() - 12;
  h += "<line class=\"scale\" x1=\"12\" y1=\"" + num(y, 1) + "\" x2=\"" + num(12 + bar_px, 1) +
       "\" y2=\"" + num(y, 1) + "\"/><text class=\"scale-text\" x=\"12\" y=\"" + num(y - 6, 1) +
       "\">" + num(bar_m, bar_m < 1 ? 1 : 0) + " m</text>";
  h += "<text class=\"north\" x=\"" + num(c.width() - 20, 1) +
       "\" y=\"18\" text-anchor=\"middle\">\xE2\x86\x91 N</text>\n</svg>\n";
  return h;
}

}  // namespace

std::string render_map_html(const Located& l, const MapOptions& options) {
  std::string h = page_start(options.title, kStyle, options.database);
  std::string models;
  for (const auto& m : l.models) models += (models.empty() ? "" : ", ") + m.display();
  h += "models " + html_escape(models) + " &middot; " + std::to_string(l.positives) +
       " photos with a bin &middot; <span id=\"bin-count\" data-count=\"" +
       std::to_string(l.bins.size()) + "\">" + std::to_string(l.bins.size()) +
       "</span> bins located</div>\n<div id=\"errors\"></div>\n";
  const auto key = [](const char* colour, const std::string& label) {
    return "<span style=\"background:" + std::string(colour) + "\"></span>" + label;
  };
  h += "<div class=\"legend\">" + key("#1f6fd0", "photo with a bin, its view") +
       key("#bbb", "photo without a bin") + key("#2a9d3a", "bin where views cross") +
       key("#d08700", "bin " + num(l.options.distance_m, 0) + " m ahead of one view") +
       key("#999", "bin at a photo without bearing") +
       (l.registry ? key("#6b3fa0", "registry bin (filled: matched)") +
                         key("#d1242f", "registry bin in view, not found")
                   : std::string()) +
       "</div>\n";
  h += svg_map(l);

  h += "<h2>Bins</h2>\n<table id=\"bins\"><thead><tr><th>bin</th><th>position</th><th>method</th>"
       "<th>&plusmn; m</th><th>photos</th><th>best bin score</th><th>seen in</th></tr></thead>"
       "<tbody>\n";
  for (const auto& b : l.bins) {
    const std::string lat = num(b.position.lat, 6), lon = num(b.position.lon, 6);
    h += "<tr data-bin=\"" + std::to_string(b.id) + "\"><td>" + std::to_string(b.id) +
         "</td><td><a href=\"https://www.openstreetmap.org/?mlat=" + lat + "&amp;mlon=" + lon +
         "#map=19/" + lat + "/" + lon + "\">" + lat + ", " + lon + "</a></td><td>" +
         std::string(method_name(b.method)) + "</td><td>" + num(b.spread_m, 0) + "</td><td>" +
         std::to_string(b.sightings.size()) + "</td><td>" + num(b.best_score, 3) +
         "</td><td><div class=\"thumbs\">";
    for (const auto i : b.sightings) {
      const auto& p = l.sightings[i].photo;
      const auto jpeg = options.thumbnail ? options.thumbnail(p) : std::nullopt;
      if (jpeg) {
        h += "<img alt=\"\" title=\"" + html_escape(p.path) + "\" src=\"data:image/jpeg;base64," +
             base64_encode(*jpeg) + "\">";
      } else {
        h += "<div class=\"none\">" + html_escape(p.path) + "</div>";
      }
    }
    h += "</div></td></tr>\n";
  }
  h += "</tbody></table>\n";
  if (l.registry) {
    const RegistryCheck& r = *l.registry;
    const auto pct = [](const std::optional<double>& v) {
      return v ? num(100 * *v, 0) + "%" : std::string("n/a");
    };
    h += "<h2>Registry</h2>\n<p id=\"registry-summary\" data-matches=\"" +
         std::to_string(r.matches) + "\" data-missed=\"" + std::to_string(r.missed) + "\">" +
         std::to_string(r.bins.size()) + " registry bins: " + std::to_string(r.matches) +
         " matched within " + num(r.match_radius_m, 0) + " m, " + std::to_string(r.missed) +
         " missed, " + std::to_string(r.outside) + " not covered by the photos; " +
         std::to_string(r.unregistered) + " located bins not in the registry. Precision " +
         pct(r.precision) + ", recall " + pct(r.recall) + ".</p>\n";
    h += "<table id=\"registry\"><thead><tr><th>registry bin</th><th>position</th><th>status</th>"
         "<th>located bin</th><th>distance m</th></tr></thead><tbody>\n";
    for (std::size_t k = 0; k < r.bins.size(); ++k) {
      const int b = r.matched_bin[k];
      const char* status = b >= 0 ? "matched" : (r.covered[k] ? "missed" : "not covered");
      h += "<tr class=\"" +
           std::string(b >= 0         ? "matched"
                       : r.covered[k] ? "missed"
                                      : "outside") +
           "\"><td>" + html_escape(r.bins[k].id) + "</td><td>" + num(r.bins[k].position.lat, 6) +
           ", " + num(r.bins[k].position.lon, 6) + "</td><td>" + status + "</td><td>" +
           (b >= 0 ? std::to_string(l.bins[static_cast<std::size_t>(b)].id) : "") + "</td><td>" +
           (b >= 0 ? num(r.match_distance_m[k], 1) : "") + "</td></tr>\n";
    }
    h += "</tbody></table>\n";
  }
  if (l.without_gps) {
    h += "<p class=\"meta\">" + std::to_string(l.without_gps) +
         " photos with a bin have no GPS position and are not on the map.</p>\n";
  }
  h += "<script>" + std::string(kScript) + "</script>\n</body></html>\n";
  return h;
}

}  // namespace binscan

#include "render/report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "analysis/occlusion.h"
#include "util/escape.h"
#include "util/json.h"
#include "util/text.h"

namespace binscan {

std::string_view page_base_css() {
  return R"css(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
.meta{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6;position:sticky;top:0}
#errors{color:#b00}
)css";
}

std::string page_start(std::string_view title, std::string_view css, std::string_view database) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n";
  // An empty icon: served by `binscan serve`, the browser would otherwise ask for /favicon.ico.
  h += "<link rel=\"icon\" href=\"data:,\">\n";
  h += "<title>" + html_escape(title) + "</title>\n<style>" + std::string(page_base_css()) +
       std::string(css) + "</style></head>\n";
  h += "<body>\n<h1>" + html_escape(title) + "</h1>\n<div class=\"meta\">";
  if (!database.empty()) h += "database " + html_escape(database) + " &middot; ";
  return h;
}

namespace {

constexpr const char* kStyle = R"css(
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.card .count{display:block;font-size:26px;font-weight:600}
.card.only_a{border-color:#d08700}.card.only_b{border-color:#1f6fd0}.card.neither{border-color:#999}.card.both{border-color:#2a9d3a}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:" \25B2"}table.sortable th[data-dir=desc]::after{content:" \25BC"}
td.thumb img{display:block;max-width:200px;max-height:200px;border-radius:3px}
td.thumb .none{width:120px;height:80px;background:#eee;color:#888;font-size:11px;display:flex;align-items:center;justify-content:center}
.path{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.yes{color:#fff;background:#2a9d3a;border-radius:3px;padding:0 5px}.no{color:#fff;background:#999;border-radius:3px;padding:0 5px}
.bars{list-style:none;margin:4px 0 0;padding:0;min-width:260px}
.bars li{position:relative;height:18px;margin:2px 0;font-size:12px;white-space:nowrap;overflow:hidden}
.bars .bar{position:absolute;left:0;top:0;bottom:0;background:#cfe3fb}
.bars li.bin .bar{background:#bfe8c4}
.bars .lbl{position:relative;padding-left:4px}
.hist{display:flex;align-items:flex-end;gap:3px;height:70px}
.hist div{background:#8bb8ea;width:46px;position:relative}
.hist span{position:absolute;top:-16px;width:100%;text-align:center;font-size:11px}
.histlabels{display:flex;gap:3px;font-size:10px;color:#666}.histlabels div{width:46px;text-align:center}
.shot{position:relative;display:inline-block;line-height:0}
.shot svg{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
.why{font-size:11px;color:#555;margin-top:3px}
.sw{display:inline-block;width:10px;height:10px;border:2px dashed;vertical-align:middle}
)css";

constexpr const char* kScript = R"js(
(function(){
  function showError(msg){var e=document.getElementById('errors');if(e){var d=document.createElement('div');d.textContent='script error: '+msg;e.appendChild(d);}}
  window.addEventListener('error',function(ev){showError(ev.message);});
  function key(cell){var v=cell.getAttribute('data-sort');if(v===null)v=cell.textContent.trim();return v;}
  function sortTable(table,col,th){
    var dir=th.getAttribute('data-dir')==='asc'?'desc':'asc';
    var heads=table.tHead.rows[0].cells;
    for(var i=0;i<heads.length;i++)heads[i].removeAttribute('data-dir');
    th.setAttribute('data-dir',dir);
    var numeric=th.getAttribute('data-type')==='number';
    var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=key(a.cells[col]),y=key(b.cells[col]);var r;
      if(numeric){x=x===''?-Infinity:parseFloat(x);y=y===''?-Infinity:parseFloat(y);r=x<y?-1:x>y?1:0;}
      else r=x.localeCompare(y);
      return dir==='asc'?r:-r;});
    rows.forEach(function(r){body.appendChild(r);});
  }
  var tables=document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables,function(table){
    var heads=table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads,function(th,col){
      th.addEventListener('click',function(){sortTable(table,col,th);});});
  });
  var total=0;
  Array.prototype.forEach.call(document.querySelectorAll('section.group'),function(s){
    var n=s.querySelectorAll('tbody tr').length;s.setAttribute('data-rendered-rows',String(n));total+=n;});
  document.body.setAttribute('data-rendered-photos',String(total));
  document.body.setAttribute('data-ready','1');
})();
)js";

std::string num(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string group_title(const Comparison& c, CompareGroup g) {
  const bool two = c.models.size() == 2;
  const std::string a = c.models.empty() ? "" : c.models[0].display();
  const std::string b = two ? c.models[1].display() : "";
  switch (g) {
    case CompareGroup::kOnlyA:
      return "Only A (" + a + ") finds a bin";
    case CompareGroup::kOnlyB:
      return "Only B (" + b + ") finds a bin";
    case CompareGroup::kNeither:
      return two ? "Neither model finds a bin" : "No bin found";
    case CompareGroup::kBoth:
      return two ? "Both models find a bin" : "Bin found";
    case CompareGroup::kIncomplete:
      return "Not classified by every model";
    case CompareGroup::kFailed:
      return "Photos that could not be decoded";
  }
  return "";
}

// Each compared model's colour on the photo: its best tile (dashed box) and occlusion map.
constexpr const char* kModelColour[] = {"#e0218a", "#00a3e0"};

// What a survey says about where in the photo a model's bin is: an SVG over the thumbnail (in
// photo pixels, as displayed) with each model's best tile (scan --tiles) and occlusion map
// (explain --db: the patches whose cover lowers the bin score, shaded by how much, and a ring on
// the peak). Empty when there is nothing to draw.
std::string where_overlay(const PhotoComparison& row) {
  const auto& p = row.photo;
  if (!p.width || !p.height || *p.width < 1 || *p.height < 1) return "";
  std::string shapes;
  for (std::size_t i = 0; i < row.results.size() && i < 2; ++i) {
    if (!row.results[i]) continue;
    const ResultRecord& r = *row.results[i];
    const std::string colour = kModelColour[i];
    if (r.occlusion_json) {
      if (const auto stored = parse_occlusion(*r.occlusion_json)) {
        const OcclusionMap& m = stored->map;
        const double top = std::max(m.peak_drop, 1e-12);
        for (std::size_t y = 0; y < m.ys.size(); ++y) {
          for (std::size_t x = 0; x < m.xs.size(); ++x) {
            const double d = m.drops[y * m.xs.size() + x] / top;
            if (d < 0.1) continue;
            const auto [x0, y0] = m.view.to_photo(m.xs[x], m.ys[y]);
            const auto [x1, y1] =
                m.view.to_photo(m.xs[x] + m.options.patch, m.ys[y] + m.options.patch);
            shapes += "<rect x=\"" + num(x0, 0) + "\" y=\"" + num(y0, 0) + "\" width=\"" +
                      num(x1 - x0, 0) + "\" height=\"" + num(y1 - y0, 0) + "\" fill=\"" + colour +
                      "\" fill-opacity=\"" + num(0.3 * d, 2) + "\"/>";
          }
        }
        if (m.peak_drop > 0) {
          const double ring = std::max(*p.width, *p.height) / 40.0;
          shapes += "<circle cx=\"" + num(m.peak_photo_x, 0) + "\" cy=\"" + num(m.peak_photo_y, 0) +
                    "\" r=\"" + num(ring, 0) + "\" fill=\"none\" stroke=\"" + colour +
                    "\" stroke-width=\"" + num(ring / 3, 0) + "\"/>";
        }
      }
    }
    if (r.tiled()) {
      const double w = std::max(*p.width, *p.height) / 120.0;
      shapes += "<rect x=\"" + std::to_string(*r.tile_x) + "\" y=\"" + std::to_string(*r.tile_y) +
                "\" width=\"" + std::to_string(*r.tile_width) + "\" height=\"" +
                std::to_string(*r.tile_height) + "\" fill=\"none\" stroke=\"" + colour +
                "\" stroke-width=\"" + num(w, 0) + "\" stroke-dasharray=\"" + num(4 * w, 0) +
                "\"/>";
    }
  }
  if (shapes.empty()) return "";
  return "<svg viewBox=\"0 0 " + std::to_string(*p.width) + " " + std::to_string(*p.height) +
         "\" preserveAspectRatio=\"none\" aria-hidden=\"true\">" + shapes + "</svg>";
}

// The words under a model's bars for the same: where its best tile is and what it scored, and
// the spot its occlusion map found.
std::string where_text(const ResultRecord& r, std::size_t model) {
  std::string h;
  const std::string swatch = "<span class=\"sw\" style=\"border-color:" +
                             std::string(kModelColour[model < 2 ? model : 0]) + "\"></span> ";
  if (r.tiled()) {
    h += "<div class=\"why tile\">" + swatch + "best tile of " + html_escape(*r.tile_grid) +
         ": bin score " + num(r.tile_bin_score.value_or(0), 4) + " (whole photo " +
         num(r.photo_bin_score.value_or(0), 4) + ")</div>";
  }
  if (r.occlusion_json) {
    if (const auto stored = parse_occlusion(*r.occlusion_json)) {
      const OcclusionMap& m = stored->map;
      h += "<div class=\"why occlusion\">" + swatch + "looked at (" + num(m.peak_photo_x, 0) +
           ", " + num(m.peak_photo_y, 0) + "): covering it lowers " +
           html_escape(m.label_name.substr(0, m.label_name.find(','))) + " by " +
           num(m.peak_drop, 3) + "</div>";
    }
  }
  return h;
}

std::string bars(const ResultRecord& r) {
  std::string out = "<ul class=\"bars\">";
  const auto top = parse_stored_json(r.top_json);
  const auto bins = parse_stored_json(r.bin_labels_json);
  if (top.is_array()) {
    for (const auto& p : top) {
      const std::string label = p.value("label", "");
      const double score = p.value("score", 0.0);
      bool is_bin = false;
      if (bins.is_array()) {
        for (const auto& b : bins)
          is_bin = is_bin || (b.is_string() && b.get<std::string>() == label);
      }
      out += std::string("<li") + (is_bin ? " class=\"bin\"" : "") + " title=\"" +
             html_escape(label) +
             "\"><span class=\"bar\" style=\"width:" + num(std::clamp(score, 0.0, 1.0) * 100, 1) +
             "%\"></span><span class=\"lbl\">" + num(score, 3) + " " + html_escape(label) +
             "</span></li>";
    }
  }
  return out + "</ul>";
}

}  // namespace

std::string render_html_report(const Comparison& c, const ReportOptions& options) {
  const bool two = c.models.size() == 2;
  std::string h = page_start(options.title, kStyle, options.database);
  h += std::to_string(c.photos) + " photos";
  if (c.threshold_override) h += " &middot; threshold " + format_number(*c.threshold_override);
  h += "</div>\n<div id=\"errors\"></div>\n";

  // Models and their statistics.
  h += "<h2>Models</h2>\n<table id=\"models\"><thead><tr><th></th><th>model</th><th>classified</th>"
       "<th>bin found</th><th>bin 1st guess</th><th>bin in top 5</th><th>mean score</th>"
       "<th>min</th><th>10%</th><th>25%</th><th>median</th><th>75%</th><th>90%</th><th>max</th>"
       "</tr></thead><tbody>\n";
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    const auto& s = c.stats[i];
    h += "<tr data-model=\"" + std::string(i == 0 ? "A" : "B") + "\"><td>" + (i == 0 ? "A" : "B") +
         "</td><td class=\"path\">" + html_escape(c.models[i].display()) + "</td><td>" +
         std::to_string(s.count) + "</td><td class=\"found\" data-count=\"" +
         std::to_string(s.found) + "\">" + std::to_string(s.found) + "</td><td>" +
         std::to_string(s.top1) + "</td><td>" + std::to_string(s.top5) + "</td><td>" +
         num(s.mean, 4) + "</td>";
    for (std::size_t k = 0; k < kQuantileLevels.size(); ++k) {
      h += "<td>" + (k < s.quantiles.size() ? num(s.quantiles[k], 4) : std::string()) + "</td>";
    }
    h += "</tr>\n";
  }
  h += "</tbody></table>\n";

  // Counts.
  h += "<h2>Agreement</h2>\n<div class=\"cards\">";
  auto card = [&](const std::string& key, const std::string& title, int n) {
    h += "<div class=\"card " + key + "\">" + html_escape(title) +
         "<span class=\"count\" id=\"count-" + key + "\" data-count=\"" + std::to_string(n) +
         "\">" + std::to_string(n) + "</span></div>";
  };
  if (two) {
    card("both", "both", c.both);
    card("only_a", "only A", c.only_a);
    card("only_b", "only B", c.only_b);
    card("neither", "neither", c.neither);
  } else {
    card("both", "bin found", c.both);
    card("neither", "no bin", c.neither);
  }
  card("incomplete", "not by every model", c.incomplete);
  card("failed", "failed to decode", c.failed);
  h += "</div>\n";
  if (two) {
    h += "<p>Agreement <b id=\"agreement\">" +
         (c.agreement ? num(*c.agreement * 100, 1) + "%" : std::string("n/a")) + "</b> of " +
         std::to_string(c.compared) + " photos classified by both; Cohen's kappa <b id=\"kappa\">" +
         (c.kappa ? num(*c.kappa, 3) : std::string("n/a")) +
         "</b> (agreement beyond chance: 1 perfect, 0 as by chance).</p>\n";
  }

  // Score distributions.
  h += "<h2>Bin score distribution</h2>\n";
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    const auto& s = c.stats[i];
    int peak = 1;
    for (const int n : s.histogram) peak = std::max(peak, n);
    h += "<p>" + html_escape(model_label(c, i)) + "</p><div class=\"hist\">";
    for (const int n : s.histogram) {
      h += "<div style=\"height:" + num(60.0 * n / peak + 1, 1) + "px\"><span>" +
           std::to_string(n) + "</span></div>";
    }
    h += "</div><div class=\"histlabels\">";
    for (std::size_t k = 0; k + 1 < kHistogramEdges.size(); ++k) {
      h += "<div>" + format_number(kHistogramEdges[k]) + "&ndash;" +
           format_number(kHistogramEdges[k + 1]) + "</div>";
    }
    h += "</div>\n";
  }

  // What the photos' overlays mean, when any has one.
  const bool any_where = std::any_of(c.rows.begin(), c.rows.end(), [](const PhotoComparison& row) {
    return std::any_of(row.results.begin(), row.results.end(),
                       [](const auto& r) { return r && (r->tiled() || r->occlusion_json); });
  });
  if (any_where) {
    h += "<p class=\"meta\" id=\"where-legend\">On the photos, where each model found its bin: "
         "its best tile (scan --tiles) as a dashed box, and its occlusion map (explain --db) as "
         "shading where covering the photo lowers the bin score, with a ring on the spot that "
         "lowers it most. ";
    for (std::size_t i = 0; i < c.models.size() && i < 2; ++i) {
      h += "<span class=\"sw\" style=\"border-color:" + std::string(kModelColour[i]) +
           "\"></span> " + html_escape(model_label(c, i)) + " ";
    }
    h += "</p>\n";
  }

  // Photos, by group: disagreements first.
  const CompareGroup order[] = {CompareGroup::kOnlyA,      CompareGroup::kOnlyB,
                                CompareGroup::kNeither,    CompareGroup::kBoth,
                                CompareGroup::kIncomplete, CompareGroup::kFailed};
  for (const CompareGroup g : order) {
    if (!two && (g == CompareGroup::kOnlyA || g == CompareGroup::kOnlyB)) continue;
    int count = 0;
    for (const auto& row : c.rows) count += row.group == g;
    const std::string key(group_key(g));
    h += "<section class=\"group\" id=\"group-" + key + "\" data-group=\"" + key +
         "\" data-rows=\"" + std::to_string(count) + "\">\n<h2>" + html_escape(group_title(c, g)) +
         " (" + std::to_string(count) + ")</h2>\n";
    if (count == 0) {
      h += "<p class=\"meta\">none</p>\n<table class=\"sortable\" hidden><thead><tr><th>photo</th>"
           "</tr></thead><tbody></tbody></table></section>\n";
      continue;
    }
    h += "<table class=\"sortable\"><thead><tr><th data-type=\"text\">photo</th>"
         "<th data-type=\"text\">path</th><th data-type=\"text\">taken</th>";
    for (std::size_t i = 0; i < c.models.size(); ++i) {
      const std::string letter = i == 0 ? "A" : "B";
      h += "<th data-type=\"number\" title=\"" + html_escape(c.models[i].display()) + "\">" +
           letter + " bin score</th><th data-type=\"number\">" + letter +
           " bin rank</th><th data-type=\"text\">" + letter + " top 5</th>";
    }
    h += "</tr></thead><tbody>\n";
    for (const auto& row : c.rows) {
      if (row.group != g) continue;
      const auto& p = row.photo;
      h += "<tr data-sha256=\"" + html_escape(p.sha256) + "\"><td class=\"thumb\" data-sort=\"" +
           html_escape(p.path) + "\">";
      std::optional<std::vector<std::uint8_t>> thumb;
      if (options.thumbnail) thumb = options.thumbnail(p);
      if (thumb && !thumb->empty()) {
        h += "<div class=\"shot\"><img alt=\"\" loading=\"lazy\" src=\"data:image/jpeg;base64," +
             base64_encode(*thumb) + "\">" + where_overlay(row) + "</div>";
      } else {
        h += "<div class=\"none\">no preview</div>";
      }
      h += "</td><td class=\"path\">" + html_escape(p.path);
      if (p.error) h += "<br><span class=\"meta\">" + html_escape(*p.error) + "</span>";
      if (p.lat && p.lon) {
        h += "<br><span class=\"meta\">" + num(*p.lat, 6) + ", " + num(*p.lon, 6);
        if (p.bearing) h += " &middot; bearing " + num(*p.bearing, 0) + "&deg;";
        h += "</span>";
      }
      h += "</td><td>" + html_escape(p.taken_at.value_or("")) + "</td>";
      for (std::size_t i = 0; i < c.models.size(); ++i) {
        if (!row.results[i]) {
          h += "<td data-sort=\"\">&ndash;</td><td data-sort=\"\">&ndash;</td><td></td>";
          continue;
        }
        const auto& r = *row.results[i];
        h += "<td data-sort=\"" + format_number(r.bin_score) + "\"><span class=\"" +
             (row.verdicts[i] ? "yes\">bin" : "no\">no bin") + "</span> " + num(r.bin_score, 4) +
             (r.bin_score_exact ? "" : " (at least)") + "</td>";
        h += "<td data-sort=\"" + (r.bin_rank ? std::to_string(*r.bin_rank) : std::string()) +
             "\">" +
             (r.bin_rank ? std::to_string(*r.bin_rank) : "&gt; " + std::to_string(r.known_ranks)) +
             "</td>";
        h += "<td data-sort=\"" + html_escape(r.top1_label) + "\">" + bars(r) + where_text(r, i) +
             "</td>";
      }
      h += "</tr>\n";
    }
    h += "</tbody></table>\n</section>\n";
  }
  h += "<script>" + std::string(kScript) + "</script>\n</body></html>\n";
  return h;
}

}  // namespace binscan

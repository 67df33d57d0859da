// Layer render/ owns every output format people and tools read: the HTML report, the map page,
// CSV / JSON Lines / GeoJSON exports and the HTML escaping they share. May use: analysis and
// below (it reads a survey through SurveyReader, never the store itself).
//
// The self-contained HTML report of a comparison: one file that works offline (no CDN, no
// external requests), thumbnails embedded as data: URIs, each model's top-5 as bars, the groups
// where the models disagree ("only A", "only B") and "neither" first, sortable tables.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/compare.h"

namespace binscan {

struct ReportOptions {
  std::string title = "binscan: trash bins found by each model";
  std::string database;  // shown in the header
  // Returns a JPEG thumbnail of the photo (its bytes), or nullopt when unavailable.
  std::function<std::optional<std::vector<std::uint8_t>>(const PhotoRecord&)> thumbnail;
};

std::string render_html_report(const Comparison& comparison, const ReportOptions& options);

// The look shared by binscan's HTML pages (body, headings, tables, the script-error box).
std::string_view page_base_css();
// An HTML page up to its open <div class="meta"> line: head, styles (the base and `css`), the
// title as <h1>, and the database it shows when given.
std::string page_start(std::string_view title, std::string_view css, std::string_view database);

}  // namespace binscan

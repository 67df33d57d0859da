// The survey's two HTML pages, written once for every command that shows them: `compare --html`
// and `locate --html` write them to files, `serve --db` renders them live at /survey and
// /survey/map. Thumbnails come from the photos' files (photo_preview) when thumb_size > 0.
#pragma once

#include <string>

#include "analysis/compare.h"
#include "analysis/locate.h"

namespace binscan::cli {

std::string survey_report_html(const Comparison& comparison, const std::string& database,
                               int thumb_size);
// `tiles`: OpenStreetMap under the map when the browser is online; false: a page that fetches
// nothing, the plain background only.
std::string survey_map_html(const Located& located, const std::string& database, int thumb_size,
                            bool tiles = true);

}  // namespace binscan::cli

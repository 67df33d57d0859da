#include "cli/survey_pages.h"

#include "cli/photo_preview.h"
#include "render/map.h"
#include "render/report.h"

namespace binscan::cli {

std::string survey_report_html(const Comparison& comparison, const std::string& database,
                               int thumb_size) {
  ReportOptions r;
  r.database = database;
  if (thumb_size > 0) {
    r.thumbnail = [thumb_size](const PhotoRecord& p) { return photo_preview(p, thumb_size); };
  }
  return render_html_report(comparison, r);
}

std::string survey_map_html(const Located& located, const std::string& database, int thumb_size,
                            bool tiles) {
  MapOptions m;
  m.database = database;
  if (!tiles) m.tile_url.clear();
  if (thumb_size > 0) {
    m.thumbnail = [thumb_size](const PhotoRecord& p) { return photo_preview(p, thumb_size); };
  }
  return render_map_html(located, m);
}

}  // namespace binscan::cli

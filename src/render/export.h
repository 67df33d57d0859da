// Exporting the survey for spreadsheets, scripts and maps: one row per photo and model.
//
// Columns (CSV header, JSON Lines keys, GeoJSON properties), the first twelve fixed:
//   path, sha256, model, top1_label, top1_score, bin_score, bin_rank, verdict, lat, lon, bearing,
//   taken_at, then revision, bin_score_exact, threshold, alt, bearing_ref, make, camera_model,
//   width, height, error
// A photo that could not be decoded (or has no result yet) is one row with an empty model and,
// when known, its error. CSV follows RFC 4180 (quoted when needed, CRLF); numbers are written as
// the shortest text that reads back as the stored double. GeoJSON is a FeatureCollection of the
// rows with GPS, each a Point at [lon, lat] (RFC 7946 order) with the row as its properties.
#pragma once

#include <string>
#include <vector>

#include "analysis/survey.h"

namespace binscan {

enum class ExportFormat { kCsv, kJsonl, kGeoJson };

ExportFormat parse_export_format(const std::string& name);  // Error(kConfig) when unknown

const std::vector<std::string>& export_columns();

std::string export_survey(SurveyReader& store, ExportFormat format);

}  // namespace binscan

// open_store: the --db string to a backend; merging across backends; what a survey from
// elsewhere may hold.
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"
#include "util/error.h"

namespace binscan {

std::string QueueStatus::line() const {
  const auto n = [](std::int64_t v) { return std::to_string(v); };
  return n(done) + " done, " + n(pending) + " pending, " + n(leased) + " leased, " + n(failed) +
         " failed; " + n(workers) + " workers seen (" + n(workers_live) + " in the last minute)";
}

nlohmann::json QueueStatus::to_json() const {
  return nlohmann::json{{"done", done},     {"pending", pending}, {"leased", leased},
                        {"failed", failed}, {"workers", workers}, {"workers_live", workers_live}};
}

bool is_postgres_location(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string redacted_location(std::string_view location) {
  if (!is_postgres_location(location)) return std::string(location);
  std::string out(location);
  // scheme://user:PASSWORD@host...: the userinfo ends at the last '@' before the path.
  const auto scheme_end = out.find("://") + 3;
  const auto path_start = out.find_first_of("/?", scheme_end);
  const auto at = out.rfind('@', path_start == std::string::npos ? out.size() : path_start);
  if (at != std::string::npos && at >= scheme_end) {
    const auto colon = out.find(':', scheme_end);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=PASSWORD&... (any case, as libpq takes it).
  static const std::regex kParam("([?&]password=)[^&]*", std::regex::icase);
  return std::regex_replace(out, kParam, "$1***");
}

std::unique_ptr<Store> open_store(const std::string& location, Store::Mode mode) {
  if (is_postgres_location(location)) return std::make_unique<PostgresStore>(location, mode);
  return std::make_unique<SqliteStore>(location, mode);
}

void check_survey_rows(const SurveyRows& rows, const std::string& source) {
  auto refuse = [&](const std::string& where, const std::string& value, const char* want) {
    const std::string shown = value.size() > 80 ? value.substr(0, 80) + "..." : value;
    throw Error(
        ErrorKind::kFormat, redacted_location(source),
        "refusing to merge: " + where + " is '" + shown + "', not " + want + " as binscan writes");
  };
  constexpr const char* kHash = "64 lowercase hex digits";
  constexpr const char* kPath = "an absolute path without control characters";
  for (const auto& p : rows.photos) {
    if (!is_survey_sha256(p.record.sha256)) refuse("photos.sha256", p.record.sha256, kHash);
    if (!is_survey_path(p.record.path)) refuse("photos.path", p.record.path, kPath);
  }
  for (const auto& p : rows.paths) {
    if (!is_survey_sha256(p.record.sha256)) refuse("paths.sha256", p.record.sha256, kHash);
    if (!is_survey_path(p.record.path)) refuse("paths.path", p.record.path, kPath);
  }
  for (const auto& r : rows.results) {
    if (!is_survey_sha256(r.sha256)) refuse("results.sha256", r.sha256, kHash);
    if (!is_survey_model_id(r.model.id))
      refuse("results.model_id", r.model.id,
             "a Hub id (org/name), an absolute model directory or an http(s) URL");
    if (!is_survey_revision(r.model.revision))
      refuse("results.revision", r.model.revision, "a commit, branch or sha256: digest");
  }
}

MergeCounts merge_survey(Store& target, const std::string& source) {
  if (!is_postgres_location(source)) {
    if (auto* sqlite = dynamic_cast<SqliteStore*>(&target)) return sqlite->merge_from(source);
  }
  const auto from = open_store(source, Store::Mode::kReadOnly);
  return target.merge_rows(from->rows(), source);
}

}  // namespace binscan

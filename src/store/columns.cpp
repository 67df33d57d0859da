#include "store/columns.h"

namespace binscan::columns {
namespace {

Value to_value(const std::string& s) { return s; }
Value to_value(const std::optional<std::string>& s) { return s ? Value(*s) : Value(); }
Value to_value(std::int64_t v) { return v; }
Value to_value(int v) { return std::int64_t{v}; }
Value to_value(bool v) { return std::int64_t{v ? 1 : 0}; }
Value to_value(double v) { return v; }
Value to_value(const std::optional<int>& v) { return v ? Value(std::int64_t{*v}) : Value(); }
Value to_value(const std::optional<double>& v) { return v ? Value(*v) : Value(); }

// NULL in a NOT NULL column (only an damaged file has one) reads as empty text or zero.
void from_value(const Value& v, std::string& out) {
  out = std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}
void from_value(const Value& v, std::optional<std::string>& out) {
  if (std::holds_alternative<std::string>(v)) {
    out = std::get<std::string>(v);
  } else {
    out.reset();
  }
}
std::int64_t as_int(const Value& v) {
  if (std::holds_alternative<std::int64_t>(v)) return std::get<std::int64_t>(v);
  if (std::holds_alternative<double>(v)) return static_cast<std::int64_t>(std::get<double>(v));
  return 0;
}
double as_real(const Value& v) {
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  if (std::holds_alternative<std::int64_t>(v))
    return static_cast<double>(std::get<std::int64_t>(v));
  return 0;
}
void from_value(const Value& v, std::int64_t& out) { out = as_int(v); }
void from_value(const Value& v, int& out) { out = static_cast<int>(as_int(v)); }
void from_value(const Value& v, bool& out) { out = as_int(v) != 0; }
void from_value(const Value& v, double& out) { out = as_real(v); }
void from_value(const Value& v, std::optional<int>& out) {
  if (std::holds_alternative<std::monostate>(v)) {
    out.reset();
  } else {
    out = static_cast<int>(as_int(v));
  }
}
void from_value(const Value& v, std::optional<double>& out) {
  if (std::holds_alternative<std::monostate>(v)) {
    out.reset();
  } else {
    out = as_real(v);
  }
}

// The accessors of a column that holds `row.member` (a field of the row or of its record).
#define BINSCAN_FIELD(Row, member)                              \
  [](const Row& row) -> Value { return to_value(row.member); }, \
      [](Row& row, const Value& v) { from_value(v, row.member); }

using enum Type;

const Column<PhotoRow> kPhotoColumns[] = {
    {"sha256", kText, false, Key::kPrimary, 1, BINSCAN_FIELD(PhotoRow, record.sha256)},
    {"path", kText, false, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.path)},
    {"size", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.size)},
    {"format", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.format)},
    {"width", kInteger, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.width)},
    {"height", kInteger, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.height)},
    {"orientation", kInteger, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.orientation)},
    {"taken_at", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.taken_at)},
    {"gps_time", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.gps_time)},
    {"lat", kReal, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.lat)},
    {"lon", kReal, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.lon)},
    {"alt", kReal, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.alt)},
    {"bearing", kReal, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.bearing)},
    {"bearing_ref", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.bearing_ref)},
    {"make", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.make)},
    {"camera_model", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.camera_model)},
    {"error", kText, true, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, record.error)},
    {"first_seen", kText, false, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, first_seen)},
    {"last_seen", kText, false, Key::kNone, 1, BINSCAN_FIELD(PhotoRow, last_seen)},
    {"focal_35mm", kInteger, true, Key::kNone, 2, BINSCAN_FIELD(PhotoRow, record.focal_35mm)},
};
// A photo seen again: everything it records is refreshed, except when it was first seen.
constexpr std::string_view kPhotoKey[] = {"sha256"};
constexpr std::string_view kPhotoRefreshed[] = {
    "path",        "size",     "format",       "width", "height",     "orientation",
    "taken_at",    "gps_time", "lat",          "lon",   "alt",        "bearing",
    "bearing_ref", "make",     "camera_model", "error", "focal_35mm", "last_seen"};

const Column<PathRow> kPathColumns[] = {
    {"path", kText, false, Key::kPrimary, 1, BINSCAN_FIELD(PathRow, record.path)},
    {"sha256", kText, false, Key::kNone, 1, BINSCAN_FIELD(PathRow, record.sha256)},
    {"size", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(PathRow, record.size)},
    {"mtime_ns", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(PathRow, record.mtime_ns)},
    {"seen_at", kText, false, Key::kNone, 1, BINSCAN_FIELD(PathRow, seen_at)},
};
constexpr std::string_view kPathKey[] = {"path"};
constexpr std::string_view kPathRefreshed[] = {"sha256", "size", "mtime_ns", "seen_at"};

const Column<ResultRow> kResultColumns[] = {
    {"sha256", kText, false, Key::kPhotoSha256, 1, BINSCAN_FIELD(ResultRow, sha256)},
    {"model_id", kText, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, model.id)},
    {"revision", kText, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, model.revision)},
    {"remote", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, remote)},
    {"top_k", kText, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, top_json)},
    {"top1_label", kText, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, top1_label)},
    {"top1_score", kReal, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, top1_score)},
    {"bin_score", kReal, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, bin_score)},
    {"bin_score_exact", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, bin_score_exact)},
    {"bin_rank", kInteger, true, Key::kNone, 1, BINSCAN_FIELD(ResultRow, bin_rank)},
    {"known_ranks", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, known_ranks)},
    {"bin_labels", kText, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, bin_labels_json)},
    {"threshold", kReal, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, threshold)},
    {"verdict", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, verdict)},
    {"prepare_ms", kReal, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, prepare_ms)},
    {"infer_ms", kReal, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, infer_ms)},
    {"batch_size", kInteger, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, batch_size)},
    {"created_at", kText, false, Key::kNone, 1, BINSCAN_FIELD(ResultRow, created_at)},
    {"decode_scale", kInteger, true, Key::kNone, 3, BINSCAN_FIELD(ResultRow, decode_scale)},
    {"precision", kText, true, Key::kNone, 3, BINSCAN_FIELD(ResultRow, precision)},
    {"tile_grid", kText, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_grid)},
    {"photo_bin_score", kReal, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, photo_bin_score)},
    {"tile_bin_score", kReal, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_bin_score)},
    {"tile_x", kInteger, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_x)},
    {"tile_y", kInteger, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_y)},
    {"tile_width", kInteger, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_width)},
    {"tile_height", kInteger, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_height)},
    {"tile_top_k", kText, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, tile_top_json)},
    {"occlusion", kText, true, Key::kNone, 4, BINSCAN_FIELD(ResultRow, occlusion_json)},
    {"candidate_labels", kText, false, Key::kNone, 5,
     BINSCAN_FIELD(ResultRow, model.candidate_labels)},
    {"hypothesis_template", kText, false, Key::kNone, 5,
     BINSCAN_FIELD(ResultRow, model.hypothesis_template)},
};
// One result per photo and model run: a result already stored is kept. A zero-shot model's label
// set and template are part of the run (schema 5; before, the key was the model alone).
constexpr std::string_view kResultKey[] = {"sha256", "model_id", "revision", "candidate_labels",
                                           "hypothesis_template"};
constexpr std::string_view kResultKeyBefore5[] = {"sha256", "model_id", "revision"};

const Column<RunRow> kRunColumns[] = {
    {"id", kInteger, false, Key::kPrimary, 1, BINSCAN_FIELD(RunRow, id)},
    {"started_at", kText, false, Key::kNone, 1, BINSCAN_FIELD(RunRow, started_at)},
    {"finished_at", kText, true, Key::kNone, 1, BINSCAN_FIELD(RunRow, finished_at)},
    {"status", kText, false, Key::kNone, 1, BINSCAN_FIELD(RunRow, status)},
    {"args", kText, false, Key::kNone, 1, BINSCAN_FIELD(RunRow, args)},
    {"summary", kText, true, Key::kNone, 1, BINSCAN_FIELD(RunRow, summary)},
};
// Runs have no natural key: merging copies a run unless one with the same start, arguments and
// status is there already.
constexpr std::string_view kRunIdentity[] = {"started_at", "args", "status"};

#undef BINSCAN_FIELD

const Index kIndexes[] = {{"paths_by_sha256", "paths", "sha256"}};

}  // namespace

const Table<PhotoRow>& photos() {
  static const Table<PhotoRow> t{.name = "photos",
                                 .columns = kPhotoColumns,
                                 .unique = kPhotoKey,
                                 .refreshed = kPhotoRefreshed,
                                 .newer_by = "last_seen",
                                 .identity = {},
                                 .keep_earliest = "first_seen",
                                 .unique_since = 1,
                                 .unique_before = {}};
  return t;
}
const Table<PathRow>& paths() {
  static const Table<PathRow> t{.name = "paths",
                                .columns = kPathColumns,
                                .unique = kPathKey,
                                .refreshed = kPathRefreshed,
                                .newer_by = "seen_at",
                                .identity = {},
                                .keep_earliest = {},
                                .unique_since = 1,
                                .unique_before = {}};
  return t;
}
const Table<ResultRow>& results() {
  static const Table<ResultRow> t{.name = "results",
                                  .columns = kResultColumns,
                                  .unique = kResultKey,
                                  .refreshed = {},
                                  .newer_by = {},
                                  .identity = {},
                                  .keep_earliest = {},
                                  .unique_since = 5,
                                  .unique_before = kResultKeyBefore5};
  return t;
}
const Table<RunRow>& runs() {
  static const Table<RunRow> t{.name = "runs",
                               .columns = kRunColumns,
                               .unique = {},
                               .refreshed = {},
                               .newer_by = {},
                               .identity = kRunIdentity,
                               .keep_earliest = {},
                               .unique_since = 1,
                               .unique_before = {}};
  return t;
}
std::span<const Index> indexes() { return kIndexes; }

}  // namespace binscan::columns

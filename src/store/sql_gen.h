// SQL both backends generate alike from the column lists of store/columns.h: lists, upserts and
// the row-by-row merge of a survey of another backend. A backend says how it spells a
// parameter (SQLite ?N, PostgreSQL $N with a cast) through `Param`; everything else it spells
// itself (types, schema, its own merge). Internal to the store layer.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/columns.h"

namespace binscan::sql {

// Spells parameter i (1-based) of a column of this type.
using Param = std::function<std::string(int i, columns::Type type)>;

inline std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

inline std::vector<std::string> names(std::span<const std::string_view> list,
                                      std::string_view prefix = {}, std::string_view suffix = {}) {
  std::vector<std::string> out;
  for (const auto n : list)
    out.push_back(std::string(prefix) + std::string(n) + std::string(suffix));
  return out;
}

template <typename Row>
std::string column_list(const columns::Table<Row>& t) {
  std::vector<std::string> out;
  for (const auto& c : t.columns) out.emplace_back(c.name);
  return join(out, ", ");
}

// What a survey of an older schema holds in a column added since: NULL, or for a column that may
// not be empty the value that means "none" (a classifier's empty label set).
template <typename Row>
std::string missing_value(const columns::Column<Row>& c) {
  if (c.nullable) return "NULL";
  return c.type == columns::Type::kText ? "''" : "0";
}

// The columns of a table as a survey of schema `version` has them; the others read as
// missing_value.
template <typename Row>
std::string select_list(const columns::Table<Row>& t, int version, std::string_view prefix = {}) {
  std::vector<std::string> out;
  for (const auto& c : t.columns) {
    out.push_back(c.since_schema <= version ? std::string(prefix) + std::string(c.name)
                                            : missing_value(c));
  }
  return join(out, ", ");
}

// The columns that make a model run (ModelKey: id, revision, label set, template) as a survey of
// schema `version` has them: the result key without the photo.
inline std::string model_run_columns(int version) {
  std::vector<std::string> out;
  const auto& t = columns::results();
  for (const auto& c : t.columns) {
    if (c.key == columns::Key::kPhotoSha256) continue;
    for (const auto n : t.unique) {
      if (n == c.name)
        out.push_back(c.since_schema <= version ? std::string(c.name) : missing_value(c));
    }
  }
  return join(out, ", ");
}

// "ON CONFLICT (key) DO UPDATE SET ... | DO NOTHING"; empty for a table without a key.
template <typename Row>
std::string on_conflict(const columns::Table<Row>& t) {
  if (t.unique.empty()) return {};
  std::string sql = " ON CONFLICT (" + join(names(t.unique), ", ") + ") DO ";
  if (t.refreshed.empty()) return sql + "NOTHING";
  std::vector<std::string> sets;
  for (const auto n : t.refreshed) sets.push_back(std::string(n) + " = excluded." + std::string(n));
  return sql + "UPDATE SET " + join(sets, ", ");
}

// INSERT of one row, parameters 1..n in column order.
template <typename Row>
std::string insert_row(const columns::Table<Row>& t, const Param& param) {
  std::vector<std::string> params;
  int i = 1;
  for (const auto& c : t.columns) params.push_back(param(i++, c.type));
  return "INSERT INTO " + std::string(t.name) + " (" + column_list(t) + ") VALUES (" +
         join(params, ", ") + ")" + on_conflict(t);
}

// Merging one row of another survey, parameters 1..n in column order, as merge_from does: a
// keyed row already here is refreshed only when the offered one is newer (newer_by); a table
// without a key (runs) takes the row, without its key, unless one of the same identity is here.
template <typename Row>
std::string merge_row(const columns::Table<Row>& t, const Param& param) {
  const std::string name(t.name);
  if (!t.unique.empty()) {
    std::string sql = insert_row(t, param);
    if (!t.refreshed.empty() && !t.newer_by.empty()) {
      const std::string by(t.newer_by);
      sql += " WHERE excluded." + by + " > " + name + "." + by;
    }
    return sql;
  }
  std::vector<std::string> targets, values, match;
  int i = 1;
  for (const auto& c : t.columns) {
    const int at = i++;
    if (c.key == columns::Key::kPrimary) continue;
    targets.emplace_back(c.name);
    values.push_back(param(at, c.type));
    for (const auto n : t.identity) {
      if (n == c.name) match.push_back("m." + std::string(n) + " = " + param(at, c.type));
    }
  }
  std::string sql =
      "INSERT INTO " + name + " (" + join(targets, ", ") + ") SELECT " + join(values, ", ");
  if (!match.empty()) {
    sql += " WHERE NOT EXISTS (SELECT 1 FROM " + name + " AS m WHERE " + join(match, " AND ") + ")";
  }
  return sql;
}

// keep_earliest of a merged row: "UPDATE t SET col = P(col) WHERE key = P(key) AND col > P(col)",
// parameters in column order as merge_row; empty when the table has none.
template <typename Row>
std::string keep_earliest_row(const columns::Table<Row>& t, const Param& param) {
  if (t.keep_earliest.empty() || t.unique.size() != 1) return {};
  std::string col, key;
  int i = 1;
  for (const auto& c : t.columns) {
    if (c.name == t.keep_earliest) col = param(i, c.type);
    if (c.name == t.unique[0]) key = param(i, c.type);
    ++i;
  }
  const std::string name(t.keep_earliest);
  return "UPDATE " + std::string(t.name) + " SET " + name + " = " + col + " WHERE " +
         std::string(t.unique[0]) + " = " + key + " AND " + name + " > " + col;
}

// merge_rows of both backends, inside the caller's transaction: `merge(table, rows)` merges a
// table's rows (merge_row, keep_earliest_row), `count(name)` counts a table; returns what was
// added.
template <typename Count, typename Merge>
MergeCounts merge_counted(const SurveyRows& rows, Count count, Merge merge) {
  MergeCounts counts;
  const auto photos = count("photos");
  merge(columns::photos(), rows.photos);
  counts.photos = count("photos") - photos;
  merge(columns::paths(), rows.paths);
  const auto results = count("results");
  merge(columns::results(), rows.results);
  counts.results = count("results") - results;
  counts.results_known = static_cast<std::int64_t>(rows.results.size()) - counts.results;
  const auto runs = count("runs");
  merge(columns::runs(), rows.runs);
  counts.runs = count("runs") - runs;
  return counts;
}

}  // namespace binscan::sql

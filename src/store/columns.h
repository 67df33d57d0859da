// The survey's tables and columns, declared once: each column's name, kind of value, whether it
// may be empty, the schema version that added it, and how it maps to the record the program uses.
// Backends generate all their SQL (tables, inserts, upserts, reads, merges, upgrades) from these
// lists, so adding a column is one line here (and a schema version), nothing else. No SQL dialect
// lives here: types are abstract and each backend spells them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "store/store.h"

namespace binscan::columns {

// A value as it goes into or comes out of a column; monostate is NULL.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

enum class Type { kText, kInteger, kReal };

enum class Key {
  kNone,
  kPrimary,      // the table's key (a photo's sha256, a path, a run's id)
  kPhotoSha256,  // refers to photos(sha256)
};

// Rows written by the store that the record does not carry (timestamps, run ids): store.h.
using RunRow = binscan::RunRow;
using PathRow = binscan::PathRow;
using PhotoRow = binscan::PhotoRow;
using ResultRow = ResultRecord;

template <typename Row>
struct Column {
  std::string_view name;
  Type type = Type::kText;
  bool nullable = false;
  Key key = Key::kNone;
  int since_schema = 1;  // the schema version that added the column (older surveys lack it)
  Value (*get)(const Row&) = nullptr;
  void (*set)(Row&, const Value&) = nullptr;
};

template <typename Row>
struct Table {
  std::string_view name;
  std::span<const Column<Row>> columns;
  // The columns that identify a row for upserts (a UNIQUE constraint unless the primary key).
  std::span<const std::string_view> unique;
  // Columns whose newer value replaces the stored one when a row is seen again (upsert); empty:
  // an existing row is kept as it is.
  std::span<const std::string_view> refreshed;
  // The column that says which of two versions of a row is newer (merge keeps the newer one).
  std::string_view newer_by;
  // For a table without a natural key: the columns that make two rows the same one (merging
  // copies a row only when none matches).
  std::span<const std::string_view> identity;
  // A column whose smaller value wins when two versions of a row meet (when it was first seen).
  std::string_view keep_earliest;
  // When the key changed: the schema version that brought `unique`, and the key before it
  // (an upgrade from an older schema replaces the constraint).
  int unique_since = 1;
  std::span<const std::string_view> unique_before;
  std::span<const std::string_view> unique_at(int version) const {
    return version < unique_since ? unique_before : unique;
  }
};

const Table<PhotoRow>& photos();
const Table<PathRow>& paths();
const Table<ResultRow>& results();
const Table<RunRow>& runs();

// Indexes, as (name, table, column).
struct Index {
  std::string_view name, table, column;
};
std::span<const Index> indexes();

}  // namespace binscan::columns

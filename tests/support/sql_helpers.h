// Reading the survey database with plain SQLite calls, independently of Store.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace binscan::test {

// Rows of a query as text ("" for NULL), columns joined by '|'.
inline std::vector<std::string> sql_rows(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    throw std::runtime_error("cannot open " + db.string());
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(h);
    sqlite3_close(h);
    throw std::runtime_error(msg);
  }
  std::vector<std::string> rows;
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string row;
    for (int c = 0; c < sqlite3_column_count(s); ++c) {
      if (c) row += '|';
      const auto* t = sqlite3_column_text(s, c);
      if (t) row += reinterpret_cast<const char*>(t);
    }
    rows.push_back(row);
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return rows;
}

inline long sql_count(const std::filesystem::path& db, const std::string& sql) {
  return std::stol(sql_rows(db, sql).at(0));
}

}  // namespace binscan::test

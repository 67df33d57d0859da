// A throw-away PostgreSQL 15 + PostGIS cluster (scripts/pg-sandbox) for the tests that need a
// real server: started on first use, once per test program, and removed when it exits. Each test
// takes a database of its own (fresh_database), made from the cluster's template with PostGIS.
#pragma once

#include <string>

#include "support/test_support.h"

namespace binscan::test {

class PgSandbox {
 public:
  PgSandbox();  // starts the cluster (fails the program with a clear message when it cannot)
  ~PgSandbox();
  PgSandbox(const PgSandbox&) = delete;
  PgSandbox& operator=(const PgSandbox&) = delete;

  // The socket directory.
  const std::string& host() const { return host_; }
  // A new empty database with PostGIS; its postgresql:// URI.
  std::string fresh_database();
  // Runs SQL with psql on the database of `uri`; rows as text, columns joined by '|'.
  std::vector<std::string> sql(const std::string& uri, const std::string& statement);
  long count(const std::string& uri, const std::string& statement);
  // Stops and starts the server (what a restart of the database looks like to binscan).
  void stop();
  void start();

 private:
  std::string script(const std::string& command);
  TempDir dir_;
  std::string host_;
  int databases_ = 0;
};

// The cluster of this test program (started on first use).
PgSandbox& pg_sandbox();

}  // namespace binscan::test

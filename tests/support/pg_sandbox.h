// A throw-away PostgreSQL 15 + PostGIS cluster (scripts/pg-sandbox) for the tests that need a
// real server: started on first use, once per test program, and removed when it exits. Each test
// takes a database of its own (fresh_database), made from the cluster's template with PostGIS.
#pragma once

#include <string>

#include "support/test_support.h"

namespace binscan::test {

class PgSandbox {
 public:
  // Starts the cluster (throws with a clear message when it cannot). `tcp_port` > 0: it also
  // listens on 127.0.0.1:tcp_port, TLS only (scripts/pg-sandbox).
  explicit PgSandbox(int tcp_port = 0);
  ~PgSandbox();
  PgSandbox(const PgSandbox&) = delete;
  PgSandbox& operator=(const PgSandbox&) = delete;

  // The socket directory.
  const std::string& host() const { return host_; }
  int tcp_port() const { return tcp_port_; }
  // The server's certificate (with a TCP port), to verify it with.
  std::string root_certificate() const { return host_ + "/root.crt"; }
  // A new empty database with PostGIS (owned by `owner`, the superuser when empty); its
  // postgresql:// URI for the superuser on the socket.
  std::string fresh_database(const std::string& owner = "");
  // The URI of database `name` for `user_info` ("user" or "user:password") on the socket.
  std::string socket_uri(const std::string& name, const std::string& user_info = "binscan") const;
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
  int tcp_port_ = 0;
  int databases_ = 0;
};

// A free TCP port on 127.0.0.1 (the kernel's pick; free when asked, so a little racy).
int free_tcp_port();

// The cluster of this test program (started on first use).
PgSandbox& pg_sandbox();

}  // namespace binscan::test

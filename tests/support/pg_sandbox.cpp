#include "support/pg_sandbox.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace binscan::test {
namespace {
constexpr const char* kPsql = "/usr/lib/postgresql/15/bin/psql";
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

PgSandbox::PgSandbox(int tcp_port) : tcp_port_(tcp_port) {
  // The server runs as an unprivileged user when we are root: it must reach the directory.
  ::chmod(dir_.path().c_str(), 0755);
  host_ = (dir_ / "pg").string();
  start();
}

PgSandbox::~PgSandbox() {
  try {
    script("destroy");
  } catch (const std::exception&) {
    // the directory goes with TempDir anyway
  }
}

std::string PgSandbox::script(const std::string& command) {
  std::vector<std::string> env;
  if (tcp_port_ > 0) env.push_back("BINSCAN_PG_TCP_PORT=" + std::to_string(tcp_port_));
  const auto r =
      run_command({(source_dir() / "scripts" / "pg-sandbox").string(), command, host_}, env);
  if (r.exit_code != 0) {
    throw std::runtime_error("scripts/pg-sandbox " + command + " failed: " + r.err);
  }
  return trimmed(r.out);
}

void PgSandbox::stop() { script("stop"); }
void PgSandbox::start() { script("start"); }

std::string PgSandbox::socket_uri(const std::string& name, const std::string& user_info) const {
  std::string uri = "postgresql://" + user_info + "@/" + name + "?host=" + host_;
  if (tcp_port_ > 0) uri += "&port=" + std::to_string(tcp_port_);
  return uri;
}

std::string PgSandbox::fresh_database(const std::string& owner) {
  const std::string name = "t" + std::to_string(++databases_);
  // An empty database with PostGIS, copied (nobody is connected to the template).
  sql(socket_uri("postgres"), "CREATE DATABASE " + name + " TEMPLATE binscan_template" +
                                  (owner.empty() ? "" : " OWNER " + owner));
  return socket_uri(name);
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  if (port == 0) throw std::runtime_error("no free TCP port on 127.0.0.1");
  return port;
}

std::vector<std::string> PgSandbox::sql(const std::string& uri, const std::string& statement) {
  const auto r = run_command(
      {kPsql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", statement});
  if (r.exit_code != 0) throw std::runtime_error("psql: " + statement + ": " + r.err);
  std::vector<std::string> rows;
  std::string out = r.out;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto nl = out.find('\n', start);
    rows.push_back(out.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return rows;
}

long PgSandbox::count(const std::string& uri, const std::string& statement) {
  const auto rows = sql(uri, statement);
  return rows.empty() ? -1 : std::stol(rows.front());
}

PgSandbox& pg_sandbox() {
  static PgSandbox sandbox;  // removed at exit
  return sandbox;
}

}  // namespace binscan::test

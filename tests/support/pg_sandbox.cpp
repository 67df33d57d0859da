#include "support/pg_sandbox.h"

#include <sys/stat.h>

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

PgSandbox::PgSandbox() {
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
  const auto r = run_command({(source_dir() / "scripts" / "pg-sandbox").string(), command, host_});
  if (r.exit_code != 0) {
    throw std::runtime_error("scripts/pg-sandbox " + command + " failed: " + r.err);
  }
  return trimmed(r.out);
}

void PgSandbox::stop() { script("stop"); }
void PgSandbox::start() { script("start"); }

std::string PgSandbox::fresh_database() {
  const std::string name = "t" + std::to_string(++databases_);
  // An empty database with PostGIS, copied (nobody is connected to the template).
  sql("postgresql://binscan@/postgres?host=" + host_,
      "CREATE DATABASE " + name + " TEMPLATE binscan_template");
  return "postgresql://binscan@/" + name + "?host=" + host_;
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

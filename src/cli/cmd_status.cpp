// binscan status: how far the work queue of a PostgreSQL survey is (done, pending, leased,
// failed, workers seen).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "store/store.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct StatusOptions {
  std::string db;
  std::string format = "text";
};

int run_status(const StatusOptions& o) {
  if (!is_postgres_location(o.db)) {
    throw Error(ErrorKind::kConfig, "--db " + o.db,
                "only a PostgreSQL survey has a work queue: give a postgresql:// URI");
  }
  const auto store = open_store(o.db, Store::Mode::kReadOnly);
  const QueueStatus s = store->work_queue()->queue_status();
  if (o.format == "json") {
    nlohmann::json j = s.to_json();
    j["database"] = redacted_location(o.db);
    std::printf("%s\n", json_text(j).c_str());
  } else {
    std::printf("%s\n", s.line().c_str());
  }
  return 0;
}

}  // namespace

void add_status_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<StatusOptions>();
  auto* cmd = app.add_subcommand(
      "status",
      "How far the work queue of a PostgreSQL survey is: photos done, pending, leased "
      "(being worked on), failed for good, and the workers seen");
  cmd->add_option("--db", o->db, "The survey: a postgresql:// URI")->required();
  cmd->add_option("--format", o->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([&run, o] { run = [o] { return run_status(*o); }; });
}

}  // namespace binscan::cli

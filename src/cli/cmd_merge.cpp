// binscan merge: join the databases of several machines (or of several days) into one, so that
// compare, export and locate see the whole survey.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "store/store.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct MergeOptions {
  std::string db = "binscan.db";
  std::vector<std::string> sources;
};

int run_merge(const MergeOptions& o) {
  const auto target = open_store(o.db);
  return for_each_input(o.sources, [&](const std::string& source) {
    const MergeCounts c = merge_survey(*target, source);
    std::printf(
        "merged %s: %lld new photos, %lld new results (%lld already there), %lld run "
        "records\n",
        terminal_text(redacted_location(source)).c_str(), static_cast<long long>(c.photos),
        static_cast<long long>(c.results), static_cast<long long>(c.results_known),
        static_cast<long long>(c.runs));
  });
}

}  // namespace

void add_merge_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<MergeOptions>();
  auto* cmd = app.add_subcommand("merge", "Join survey databases (e.g. one per machine) into one");
  cmd->footer(
      "Each SOURCE is added to --db (created when missing) in one transaction: photos, the\n"
      "paths they were seen at, every model's results and the run records. A photo in both keeps\n"
      "what the latest sighting recorded; a result already there is kept as it is. Merging the\n"
      "same source again adds nothing, so a daily job can merge everything each time.\n"
      "\n"
      "Several machines on one collection (a database each: SQLite must not be shared over a\n"
      "network file system):\n"
      "  machine 1:  binscan scan /photos --model M --shard 1/2 --db part1.db\n"
      "  machine 2:  binscan scan /photos --model M --shard 2/2 --db part2.db\n"
      "  then:       binscan merge --db city.db part1.db part2.db && binscan locate --db city.db\n"
      "\n"
      "--db and each SOURCE may be a postgresql:// URI: SQLite into PostgreSQL and back.");
  cmd->add_option("sources", o->sources, "Databases written by 'binscan scan'")->required();
  cmd->add_option("--db", o->db,
                  "The database to merge into: an SQLite file or a postgresql:// URI")
      ->capture_default_str();
  cmd->callback([&run, o] { run = [o] { return run_merge(*o); }; });
}

}  // namespace binscan::cli

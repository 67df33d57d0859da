#include "cli/commands.h"

namespace binscan::cli {

// Placeholder until the subcommand is implemented.
void add_scan_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("scan", "(not implemented yet)");
  cmd->callback([&run] {
    run = [] {
      print_error("'scan' is not implemented yet");
      return 1;
    };
  });
}

}  // namespace binscan::cli

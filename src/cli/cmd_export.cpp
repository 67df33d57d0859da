#include "cli/commands.h"

namespace binscan::cli {

// Placeholder until the subcommand is implemented.
void add_export_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("export", "(not implemented yet)");
  cmd->callback([&run] {
    run = [] {
      print_error("'export' is not implemented yet");
      return 1;
    };
  });
}

}  // namespace binscan::cli

#include "cli/commands.h"

namespace binscan::cli {

// Placeholder until the subcommand is implemented.
void add_preprocess_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("preprocess", "(not implemented yet)");
  cmd->callback([&run] {
    run = [] {
      print_error("'preprocess' is not implemented yet");
      return 1;
    };
  });
}

}  // namespace binscan::cli

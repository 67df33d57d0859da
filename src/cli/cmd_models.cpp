#include "cli/commands.h"

namespace binscan::cli {

// Placeholder until the subcommand is implemented.
void add_models_command(CLI::App& app, Runner& run) {
  auto* cmd = app.add_subcommand("models", "(not implemented yet)");
  cmd->callback([&run] {
    run = [] {
      print_error("'models' is not implemented yet");
      return 1;
    };
  });
}

}  // namespace binscan::cli

// binscan — find trash bins in street photos with Hugging Face image classifiers.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <new>

#include "cli/commands.h"
#include "store/store.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/file.h"

namespace binscan::cli {

void print_error(const std::string& line) {
  std::fprintf(stderr, "binscan: error: %s\n", format_error_line("", line).c_str());
}

void print_warning(const std::string& line) {
  std::fprintf(stderr, "binscan: warning: %s\n", format_error_line("", line).c_str());
}

int for_each_input(const std::vector<std::string>& inputs,
                   const std::function<void(const std::string&)>& each) {
  int failed = 0;
  for (const auto& input : inputs) {
    try {
      each(input);
    } catch (const Error& e) {
      print_error(e.what());
      ++failed;
    }
    std::fflush(stdout);
  }
  return failed == 0 ? 0 : 1;
}

void write_output(const std::string& path, const std::string& text) {
  write_file_atomically(path, text);
  std::fprintf(stderr, "wrote %s\n", terminal_text(path).c_str());
}

}  // namespace binscan::cli

int main(int argc, char** argv) {
  using namespace binscan;
  CLI::App app{
      "binscan finds trash bins in street photos with Hugging Face image classifiers\n"
      "(google/vit-base-patch16-224, microsoft/resnet-50 and other ViT/ResNet checkpoints),\n"
      "locally on the CPU or through the Hugging Face Inference API.\n\n"
      "Start with:  binscan classify --model DIR_OR_ID photo.jpg\n"
      "             binscan scan photos/ --model A --model B && binscan compare",
      "binscan"};
  app.set_version_flag("--version", std::string("binscan 0.1.0"));
  app.require_subcommand(1);
  app.fallthrough();

  cli::Runner run;
  cli::add_info_command(app, run);
  cli::add_preprocess_command(app, run);
  cli::add_classify_command(app, run);
  cli::add_bench_command(app, run);
  cli::add_calibrate_command(app, run);
  cli::add_download_command(app, run);
  cli::add_models_command(app, run);
  cli::add_scan_command(app, run);
  cli::add_work_command(app, run);
  cli::add_status_command(app, run);
  cli::add_compare_command(app, run);
  cli::add_export_command(app, run);
  cli::add_locate_command(app, run);
  cli::add_merge_command(app, run);
  cli::add_serve_command(app, run);
  cli::add_explain_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Prints the message (or the help); CLI11's own codes (105, 106, ...) become the one usage
    // status, so a mistake exits the same in every command.
    return app.exit(e) == 0 ? 0 : cli::kUsageExit;
  }
  if (!run) return 0;
  // CLI11 holds its own copies now: hide a --db URI's password from ps and /proc/PID/cmdline
  // (the process title), byte for byte in place.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const auto eq = arg.find("=postgres");
    const std::string_view uri = eq != std::string_view::npos ? arg.substr(eq + 1) : arg;
    if (!is_postgres_location(uri)) continue;
    const std::string shown = redacted_location(uri);
    char* at = argv[i] + (arg.size() - uri.size());
    const std::size_t n = std::min(shown.size(), uri.size());
    std::copy_n(shown.data(), n, at);
    std::fill(at + n, argv[i] + arg.size(), ' ');
  }
  try {
    return run();
  } catch (const Error& e) {
    cli::print_error(e.what());
    return exit_code_for(e.kind());
  } catch (const std::bad_alloc&) {
    // Not a bug to report but a request too large for this machine: say so plainly.
    cli::print_error("out of memory: the request needs more memory than is available");
    return 1;
  } catch (const std::exception& e) {
    cli::print_error(std::string("internal error: ") + e.what());
    return exit_code_for(ErrorKind::kInternal);
  }
}

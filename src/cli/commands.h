// Layer cli/ owns the binscan program: flags (the model flags once, in cli/model_flags.h), one file
// per subcommand, messages and exit codes. May use: every layer.
//
// Subcommands of the binscan program. Each lives in its own cmd_*.cpp: it declares its flags on
// the CLI11 app and, when selected, stores in `run` the function that does the work and returns
// the process exit code. Errors thrown as binscan::Error become one line on stderr in main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace binscan::cli {

using Runner = std::function<int()>;

// The exit status of every usage error, in every command: an unknown flag, a missing argument, a
// value out of range (checked while parsing), or a configuration a command refuses before it
// starts (Error(kConfig), see util/error.h). 2, as POSIX tools use for usage errors.
inline constexpr int kUsageExit = 2;

void add_info_command(CLI::App& app, Runner& run);
void add_preprocess_command(CLI::App& app, Runner& run);
void add_classify_command(CLI::App& app, Runner& run);
void add_bench_command(CLI::App& app, Runner& run);
void add_calibrate_command(CLI::App& app, Runner& run);
void add_download_command(CLI::App& app, Runner& run);
void add_models_command(CLI::App& app, Runner& run);
void add_scan_command(CLI::App& app, Runner& run);
void add_work_command(CLI::App& app, Runner& run);
void add_status_command(CLI::App& app, Runner& run);
void add_compare_command(CLI::App& app, Runner& run);
void add_export_command(CLI::App& app, Runner& run);
void add_locate_command(CLI::App& app, Runner& run);
void add_merge_command(CLI::App& app, Runner& run);
void add_serve_command(CLI::App& app, Runner& run);
void add_explain_command(CLI::App& app, Runner& run);

// Shared output helpers: "binscan: error: PATH: cause" / "binscan: warning: ..." on stderr.
void print_error(const std::string& line);
void print_warning(const std::string& line);
// Runs `each` on every input in turn: an Error becomes one line on stderr and the others still
// run. Returns the exit status: 0 when every input succeeded, else 1.
int for_each_input(const std::vector<std::string>& inputs,
                   const std::function<void(const std::string&)>& each);
// Writes a report file atomically (never half-written) and says so on stderr.
void write_output(const std::string& path, const std::string& text);

}  // namespace binscan::cli

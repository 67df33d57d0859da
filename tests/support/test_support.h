// Helpers shared by the test suites: where the shared photos are, temporary directories, and
// running Python references (Debian's /usr/bin/python3 with torch, Pillow, numpy) or binscan.
#pragma once

// Defined when built with AddressSanitizer (GCC or clang): slow tests skip themselves.
#if defined(__SANITIZE_ADDRESS__)
#define BINSCAN_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BINSCAN_UNDER_SANITIZER 1
#endif
#endif

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace binscan::test {

std::filesystem::path shared_dir();     // ../shared (read-only)
std::filesystem::path photos_dir();     // ../shared/data/photos
std::filesystem::path source_dir();     // the repository root
std::filesystem::path reference_dir();  // tests/reference (Python references)
std::filesystem::path binscan_binary();
std::vector<std::filesystem::path> all_photos();  // every JPEG under photos_dir(), sorted

// The interpreter that has Debian's python3-torch/pil/numpy.
inline constexpr const char* kPython = "/usr/bin/python3";

// A fresh directory removed (recursively) when the object goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;
  std::string err;
};

// The JSON objects of a JSON Lines text (empty lines skipped).
std::vector<nlohmann::json> json_lines(const std::string& text);

// Runs argv (no shell) with optional extra environment entries "K=V"; captures stdout/stderr.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env = {});

// Runs the binscan program under test with `args` (and extra environment entries "K=V").
CommandResult run_binscan(const std::vector<std::string>& args,
                          const std::vector<std::string>& extra_env = {});

// Starts argv (no shell) with stdout and stderr to /dev/null; its pid, or -1.
int spawn_silent(const std::vector<std::string>& argv);
// Waits for a spawned process: its exit status, or 128+signal when killed by one.
int wait_exit(int pid);

// Two tiny random-weight checkpoints (make_checkpoint.py presets tiny-vit-224 and
// tiny-resnet-bottleneck) in <dir>/vit and <dir>/resnet, made once per test program.
const std::filesystem::path& tiny_checkpoints();

// Runs `/usr/bin/python3 tests/reference/<script> args...`; fails the test (ADD_FAILURE) and
// returns the result when the script exits non-zero.
CommandResult run_python(const std::string& script, const std::vector<std::string>& args);

// The data a map page (render_map_html, `locate --html`) draws: the JSON on its script's last
// line but one. Null when there is none (a page with nothing to draw).
nlohmann::json map_page_data(const std::string& html);

// Whether Debian's chromium and chromium-driver are installed for the Selenium tests. When they
// are not, a test skips, or fails when BINSCAN_REQUIRE_BROWSER is set (scripts/test).
bool browser_installed();
bool browser_required();

}  // namespace binscan::test

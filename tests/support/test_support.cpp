#include "support/test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

extern char** environ;

namespace binscan::test {

std::filesystem::path shared_dir() { return std::filesystem::path(BINSCAN_SHARED_DIR); }
std::filesystem::path photos_dir() { return shared_dir() / "data" / "photos"; }
std::filesystem::path source_dir() { return std::filesystem::path(BINSCAN_SOURCE_DIR); }
std::filesystem::path reference_dir() { return source_dir() / "tests" / "reference"; }
std::filesystem::path binscan_binary() { return std::filesystem::path(BINSCAN_BINARY); }

std::vector<std::filesystem::path> all_photos() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(photos_dir())) {
    const auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "binscan-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult run_command(const std::vector<std::string>& argv,
                          const std::vector<std::string>& extra_env) {
  TempDir io;
  const auto out_path = io / "stdout";
  const auto err_path = io / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  for (const auto& kv : extra_env) {
    const auto key = kv.substr(0, kv.find('=') + 1);
    std::erase_if(env_strings, [&](const std::string& s) { return s.rfind(key, 0) == 0; });
    env_strings.push_back(kv);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (auto& a : args) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  pid_t pid = 0;
  CommandResult result;
  if (posix_spawnp(&pid, c_argv[0], &actions, nullptr, c_argv.data(), envp.data()) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    result.err = "cannot start " + argv.at(0);
    return result;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

CommandResult run_binscan(const std::vector<std::string>& args,
                          const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv{binscan_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, extra_env);
}

CommandResult run_python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{kPython, (reference_dir() / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_command(argv);
  if (result.exit_code != 0) {
    ADD_FAILURE() << script << " exited " << result.exit_code << "\n" << result.err;
  }
  return result;
}

nlohmann::json map_page_data(const std::string& html) {
  const auto end = html.rfind("\n);\n</script>");
  if (end == std::string::npos) return nullptr;
  const auto start = html.rfind('\n', end - 1) + 1;
  return nlohmann::json::parse(html.substr(start, end - start));
}

bool browser_installed() {
  return std::filesystem::exists("/usr/bin/chromedriver") &&
         std::filesystem::exists("/usr/bin/chromium");
}

bool browser_required() { return std::getenv("BINSCAN_REQUIRE_BROWSER") != nullptr; }

int spawn_silent(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (auto& a : args) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int wait_exit(int pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const std::filesystem::path& tiny_checkpoints() {
  static TempDir* dir = [] {
    auto* d = new TempDir;  // lives for the whole test program
    for (const auto& [preset, name] :
         {std::pair{"tiny-vit-224", "vit"}, std::pair{"tiny-resnet-bottleneck", "resnet"}}) {
      run_python("make_checkpoint.py", {"--preset", preset, "--out", (*d / name).string()});
    }
    return d;
  }();
  return dir->path();
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    const auto line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

}  // namespace binscan::test

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string_view>

#include "layering/layers.h"
#include "support/test_support.h"

namespace binscan::test {

const std::map<std::string, std::set<std::string>>& layer_dependencies() {
  static const auto deps = [] {
    // Direct arrows, as src/CMakeLists.txt links the libraries.
    const std::vector<std::pair<std::string, std::vector<std::string>>> direct = {
        {"util", {}},
        {"image", {"util"}},
        {"preprocess", {"image"}},
        {"model", {"preprocess"}},
        {"engine", {"model"}},
        {"hub", {"util"}},
        {"text", {"util"}},
        {"classify", {"engine", "hub", "text"}},
        {"pipeline", {"classify"}},
        {"analysis", {"pipeline"}},
        {"store", {"analysis"}},
        {"render", {"analysis"}},
        {"serve", {"analysis"}},
        {"cli", {"render", "store", "serve"}},
    };
    std::map<std::string, std::set<std::string>> closed;
    for (const auto& [layer, below] : direct) {  // listed bottom-up, so `below` is closed already
      auto& all = closed[layer];
      for (const auto& b : below) {
        all.insert(b);
        all.insert(closed.at(b).begin(), closed.at(b).end());
      }
    }
    return closed;
  }();
  return deps;
}

namespace {

// The path of a `#include "..."` line (blanks allowed around '#'), nullopt for any other line.
std::optional<std::string> quoted_include(std::string_view line) {
  auto skip_blanks = [&] {
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  };
  skip_blanks();
  if (!line.starts_with('#')) return std::nullopt;
  line.remove_prefix(1);
  skip_blanks();
  if (!line.starts_with("include")) return std::nullopt;
  line.remove_prefix(7);
  skip_blanks();
  if (!line.starts_with('"')) return std::nullopt;
  line.remove_prefix(1);
  const auto end = line.find('"');
  if (end == std::string_view::npos || line.substr(0, end).find('/') == std::string_view::npos) {
    return std::nullopt;
  }
  return std::string(line.substr(0, end));
}

}  // namespace

std::vector<LayerViolation> check_layering(const std::filesystem::path& src_root) {
  namespace fs = std::filesystem;
  const auto& deps = layer_dependencies();
  std::vector<LayerViolation> out;
  for (const auto& dir : fs::directory_iterator(src_root)) {
    if (!dir.is_directory()) continue;
    const std::string layer = dir.path().filename().string();
    const auto allowed = deps.find(layer);
    if (allowed == deps.end()) {
      out.push_back({layer + "/", 0, "(not a known layer: add it to tests/layering)"});
      continue;
    }
    for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
      const auto ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
      std::ifstream in(entry.path());
      std::string text;
      int line_no = 0;
      while (std::getline(in, text)) {
        ++line_no;
        const auto included = quoted_include(text);
        if (!included) continue;
        const std::string target = included->substr(0, included->find('/'));
        if (target == layer || !deps.contains(target)) continue;
        if (!allowed->second.contains(target)) {
          out.push_back({fs::relative(entry.path(), src_root).string(), line_no, *included});
        }
      }
    }
  }
  return out;
}

namespace {

TEST(Layering, NoLayerIncludesAHigherOne) {
  const auto violations = check_layering(source_dir() / "src");
  for (const auto& v : violations) {
    ADD_FAILURE() << "src/" << v.file << ":" << v.line << " includes \"" << v.included
                  << "\", a layer it may not use (see src/CMakeLists.txt)";
  }
  EXPECT_TRUE(violations.empty());
}

TEST(Layering, TheCheckCatchesAnUpwardInclude) {
  TempDir dir;
  std::filesystem::create_directories(dir / "image");
  std::filesystem::create_directories(dir / "store");
  std::ofstream(dir / "image" / "ok.h") << "#include \"util/error.h\"\n#include <vector>\n";
  std::ofstream(dir / "image" / "bad.cpp")
      << "#include \"image/ok.h\"\n\n  #  include \"store/store.h\"  // header-only use\n";
  std::ofstream(dir / "store" / "fine.cpp") << "#include \"image/ok.h\"\n";
  const auto violations = check_layering(dir.path());
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].file, "image/bad.cpp");
  EXPECT_EQ(violations[0].line, 3);
  EXPECT_EQ(violations[0].included, "store/store.h");
}

TEST(Layering, ANewFolderMustBePlaced) {
  TempDir dir;
  std::filesystem::create_directories(dir / "gateway");
  const auto violations = check_layering(dir.path());
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].file, "gateway/");
}

TEST(Layering, RenderDoesNotReachTheStore) {
  const auto& deps = layer_dependencies();
  EXPECT_TRUE(deps.at("render").contains("analysis"));
  EXPECT_FALSE(deps.at("render").contains("store"));
  EXPECT_TRUE(deps.at("cli").contains("util"));
  EXPECT_FALSE(deps.at("util").contains("image"));
  // The server reaches the survey only through the functions cli hands it.
  EXPECT_TRUE(deps.at("serve").contains("pipeline"));
  EXPECT_FALSE(deps.at("serve").contains("store"));
  EXPECT_FALSE(deps.at("serve").contains("render"));
}

}  // namespace
}  // namespace binscan::test

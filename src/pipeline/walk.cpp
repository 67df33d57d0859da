#include "pipeline/walk.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>

#include "util/error.h"

namespace binscan {
namespace fs = std::filesystem;

fs::path absolute_normal(const fs::path& p) {
  std::error_code ec;
  auto abs = fs::absolute(p, ec);
  if (ec) abs = p;
  auto out = abs.lexically_normal();
  // "dir/" normalises to "dir/" with an empty filename; drop it so prefixes compare simply.
  if (!out.has_filename() && out.has_parent_path() && out != out.root_path()) {
    out = out.parent_path();
  }
  return out;
}

namespace {

bool stat_entry(const fs::path& path, FileEntry& entry) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  entry.path = path;
  entry.size = static_cast<std::int64_t>(st.st_size);
  entry.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return true;
}

}  // namespace

WalkResult walk_inputs(const std::vector<fs::path>& inputs, const std::vector<fs::path>& exclude) {
  WalkResult out;
  std::vector<fs::path> excluded;
  for (const auto& e : exclude) excluded.push_back(absolute_normal(e));
  auto keep = [&](const fs::path& p) {
    return std::find(excluded.begin(), excluded.end(), p) == excluded.end();
  };
  for (const auto& input : inputs) {
    const fs::path root = absolute_normal(input);
    std::error_code ec;
    const auto status = fs::status(root, ec);
    if (ec || !fs::exists(status)) {
      out.errors.emplace_back(input.string(), "no such file or folder");
      continue;
    }
    if (fs::is_regular_file(status)) {
      FileEntry e;
      if (stat_entry(root, e) && keep(root)) out.files.push_back(std::move(e));
      continue;
    }
    if (!fs::is_directory(status)) {
      out.errors.emplace_back(input.string(), "not a regular file or folder");
      continue;
    }
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      out.errors.emplace_back(input.string(), "cannot list folder: " + ec.message());
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        out.errors.emplace_back(it->path().string(), "cannot list folder: " + ec.message());
        ec.clear();
        continue;
      }
      const fs::path p = it->path().lexically_normal();
      FileEntry e;
      if (stat_entry(p, e) && keep(p)) out.files.push_back(std::move(e));
    }
    if (ec) out.errors.emplace_back(input.string(), "cannot list folder: " + ec.message());
  }
  std::sort(out.files.begin(), out.files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  out.files.erase(
      std::unique(out.files.begin(), out.files.end(),
                  [](const FileEntry& a, const FileEntry& b) { return a.path == b.path; }),
      out.files.end());
  return out;
}

std::optional<ImageFormat> sniff_file(const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw Error(ErrorKind::kIo, path.string(), "cannot open file");
  std::array<std::uint8_t, 32> head{};
  const std::size_t n = std::fread(head.data(), 1, head.size(), f.get());
  return sniff_format(std::span<const std::uint8_t>(head.data(), n));
}

}  // namespace binscan

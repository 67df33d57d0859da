#include "util/file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>

#include "util/error.h"

namespace binscan {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using UniqueFile = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorKind::kIo, path.string(), "is a directory");
  }
  UniqueFile f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(ErrorKind::kIo, path.string(), "cannot open: " + errno_text());
  std::vector<std::uint8_t> data;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, f.get());
    data.insert(data.end(), chunk, chunk + n);
    if (n < sizeof chunk) {
      if (std::ferror(f.get())) throw Error(ErrorKind::kIo, path.string(), "read error: " + errno_text());
      break;
    }
  }
  return data;
}

std::string read_text_file(const std::filesystem::path& path) {
  const auto bytes = read_file(path);
  return std::string(bytes.begin(), bytes.end());
}

void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::FILE*)>& write) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::random_device rd;
  const auto tmp = dir / ("." + path.filename().string() + ".tmp" + std::to_string(::getpid()) +
                          "-" + std::to_string(rd()));
  UniqueFile f(std::fopen(tmp.c_str(), "wb"));
  if (!f) throw Error(ErrorKind::kIo, path.string(), "cannot create: " + errno_text());
  try {
    write(f.get());
    if (std::fflush(f.get()) != 0 || ::fsync(::fileno(f.get())) != 0) {
      throw Error(ErrorKind::kIo, path.string(), "write failed: " + errno_text());
    }
    if (std::fclose(f.release()) != 0) {
      throw Error(ErrorKind::kIo, path.string(), "write failed: " + errno_text());
    }
    std::filesystem::rename(tmp, path);
  } catch (...) {
    f.reset();
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  write_file_atomically(path, [&](std::FILE* f) {
    if (std::fwrite(content.data(), 1, content.size(), f) != content.size()) {
      throw Error(ErrorKind::kIo, path.string(), "write failed: " + errno_text());
    }
  });
}

}  // namespace binscan

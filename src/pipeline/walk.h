// Part of the pipeline layer (see pipeline/photo.h).
//
// Finding the photos: a recursive walk over files and folders, and sniffing which are images.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "image/decode.h"

namespace binscan {

struct FileEntry {
  std::filesystem::path path;  // absolute, lexically normal
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
};

struct WalkResult {
  std::vector<FileEntry> files;  // regular files, sorted by path, each once
  std::vector<std::pair<std::string, std::string>> errors;  // (path, cause): missing, unreadable
};

// Every regular file under `inputs` (files or folders, folders recursively; symlinks to files are
// followed, symlinked folders are not, so a link loop cannot trap the walk). Paths in `exclude`
// (e.g. the database and its -wal/-shm files) are left out.
WalkResult walk_inputs(const std::vector<std::filesystem::path>& inputs,
                       const std::vector<std::filesystem::path>& exclude = {});

// The image format by the file's first bytes, nullopt when not an image binscan reads.
// Throws Error(kIo) when the file cannot be read.
std::optional<ImageFormat> sniff_file(const std::filesystem::path& path);

std::filesystem::path absolute_normal(const std::filesystem::path& p);

}  // namespace binscan

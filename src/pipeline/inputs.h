// Part of the pipeline layer (see pipeline/photo.h).
//
// Turning the command line's files and folders into the photos to run: folders walked
// recursively, images told by their content, a share of them taken for --shard.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/walk.h"

namespace binscan {

// One photo to run: a file (read by a pipeline worker) or bytes already in memory (a request
// body).
struct PhotoInput {
  std::string name;            // how messages and outputs name it
  std::filesystem::path path;  // the file; empty when `bytes` holds the content
  std::vector<std::uint8_t> bytes;
  std::int64_t size = 0;      // from the walk (files), for a store's "unchanged?" check
  std::int64_t mtime_ns = 0;  // idem
  // The feed's own number for this photo (e.g. a server's request id), carried to the sink
  // untouched in PhotoItem::input.
  std::uint64_t ticket = 0;
  bool in_memory() const { return path.empty(); }
};

struct CollectOptions {
  // How photos are named: as the user wrote them ("photos/a/b.jpg" for a file found in the
  // argument "photos/") and files named directly taken as given, even when they are not images
  // (classify: each argument is a request, a wrong one an error); or by absolute path, every
  // argument walked alike and sniffed (scan).
  bool as_given = false;
  std::vector<std::filesystem::path> exclude;  // left out (e.g. the survey's own files)
  int shard = 1;  // take shard `shard` (1-based) of `shards` (see shard_of)
  int shards = 1;
  // Files known to be images without reading them (a store's unchanged paths); may be empty.
  std::function<bool(const FileEntry&)> known_image;
};

struct CollectedPhotos {
  std::vector<PhotoInput> photos;  // in argument order; inside a folder, sorted by path
  std::vector<std::pair<std::string, std::string>> errors;  // (path, cause): missing, unlistable
  std::vector<std::string> not_images;       // files skipped: not JPEG, PNG or WebP by content
  std::vector<std::string> empty_folders;    // arguments (folders) in which no image was found
  std::vector<std::filesystem::path> roots;  // the arguments, absolute (for shard_of)
  int files = 0;                             // regular files found
  int other_shards = 0;                      // files left to the other shards
};

CollectedPhotos collect_photos(const std::vector<std::filesystem::path>& args,
                               const CollectOptions& options);

// Which of `shards` shards (1-based) a file belongs to: a hash (64-bit FNV-1a, the same on every
// machine and compiler) of its path relative to the input root it was found under, or of its
// file name when it was given directly — so machines that mount the photos at different places
// still split them the same way.
int shard_of(const std::filesystem::path& file, const std::vector<std::filesystem::path>& roots,
             int shards);

}  // namespace binscan

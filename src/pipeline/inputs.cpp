#include "pipeline/inputs.h"

#include <algorithm>
#include <set>

#include "util/error.h"

namespace binscan {
namespace fs = std::filesystem;

CollectedPhotos collect_photos(const std::vector<fs::path>& args, const CollectOptions& options) {
  CollectedPhotos out;
  for (const auto& arg : args) out.roots.push_back(absolute_normal(arg));
  // Folders are walked one by one when names follow the arguments, all at once otherwise (the
  // walk sorts and deduplicates what it finds).
  std::vector<std::vector<fs::path>> groups;
  if (options.as_given) {
    for (const auto& arg : args) groups.push_back({arg});
  } else {
    groups.push_back(args);
  }
  std::set<fs::path> seen;
  for (const auto& group : groups) {
    const fs::path& arg = group.front();
    std::error_code ec;
    if (options.as_given && !fs::is_directory(arg, ec)) {
      PhotoInput in;
      in.name = arg.string();
      in.path = arg;
      out.photos.push_back(std::move(in));
      continue;
    }
    WalkResult walked = walk_inputs(group, options.exclude);
    out.files += static_cast<int>(walked.files.size());
    for (auto& e : walked.errors) out.errors.push_back(std::move(e));
    const fs::path root = absolute_normal(arg);
    std::size_t found = 0;
    for (auto& f : walked.files) {
      if (!seen.insert(f.path).second) continue;
      if (options.shards > 1 && shard_of(f.path, out.roots, options.shards) != options.shard) {
        ++out.other_shards;
        continue;
      }
      bool image = options.known_image && options.known_image(f);
      if (!image) {
        try {
          image = sniff_file(f.path).has_value();
        } catch (const Error&) {
          image = true;  // unreadable: the pipeline's read reports it, naming the file
        }
      }
      if (!image) {
        out.not_images.push_back(f.path.string());
        continue;
      }
      PhotoInput in;
      in.name = options.as_given ? (arg / fs::relative(f.path, root)).lexically_normal().string()
                                 : f.path.string();
      in.path = std::move(f.path);
      in.size = f.size;
      in.mtime_ns = f.mtime_ns;
      out.photos.push_back(std::move(in));
      ++found;
    }
    if (options.as_given && found == 0) out.empty_folders.push_back(arg.string());
  }
  return out;
}

int shard_of(const fs::path& file, const std::vector<fs::path>& roots, int shards) {
  std::string key = file.filename().string();
  for (const auto& root : roots) {
    const auto rel = file.lexically_relative(root);
    if (!rel.empty() && *rel.begin() != ".." && rel != ".") {
      key = rel.generic_string();
      break;
    }
  }
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: tiny, and stable everywhere
  for (const unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return static_cast<int>(h % static_cast<std::uint64_t>(std::max(shards, 1))) + 1;
}

}  // namespace binscan

// Listing the Hub cache, in the spirit of huggingface_hub's scan_cache_dir: repositories, their
// snapshots and the refs pointing at them, sizes counted from the blobs the snapshots point to.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "hub/hub.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/shard_index.h"
#include "util/text.h"

namespace binscan {
namespace fs = std::filesystem;
namespace {

// "models--org--name" -> "org/name"
std::string repo_id_of(const std::string& folder) {
  std::string rest = folder.substr(std::string("models--").size());
  std::string out;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest.compare(i, 2, "--") == 0) {
      out += '/';
      ++i;
    } else {
      out += rest[i];
    }
  }
  return out;
}

bool snapshot_complete(const fs::path& snapshot) {
  std::error_code ec;
  if (!fs::exists(snapshot / "config.json", ec) ||
      !fs::exists(snapshot / "preprocessor_config.json", ec)) {
    return false;
  }
  if (fs::exists(snapshot / "model.safetensors", ec)) return true;
  const fs::path index = snapshot / "model.safetensors.index.json";
  if (!fs::exists(index, ec)) return false;
  try {
    // The loader's own reading of the index: an invalid shard name ("/etc/passwd") is not ready.
    for (const auto& [shard, tensors] : parse_shard_index(read_text_file(index), index.string())) {
      if (!fs::is_regular_file(snapshot / shard, ec)) return false;
    }
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

CachedModel scan_repo(const fs::path& repo) {
  CachedModel model;
  model.model_id = repo_id_of(repo.filename().string());
  model.path = repo;
  std::error_code ec;

  std::map<std::string, std::vector<std::string>> refs_by_commit;
  if (fs::is_directory(repo / "refs", ec)) {
    for (auto it = fs::recursive_directory_iterator(repo / "refs", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      try {
        const std::string commit = trim(read_text_file(it->path()));
        refs_by_commit[commit].push_back(
            it->path().lexically_relative(repo / "refs").generic_string());
      } catch (const Error&) {
      }
    }
  }

  if (fs::is_directory(repo / "blobs", ec)) {
    for (const auto& entry : fs::directory_iterator(repo / "blobs", ec)) {
      if (entry.path().extension() == ".incomplete") {
        model.incomplete_bytes += static_cast<std::int64_t>(entry.file_size(ec));
      }
    }
  }

  std::map<fs::path, std::int64_t> blob_sizes;  // every blob some snapshot points to
  std::vector<std::pair<fs::file_time_type, CachedRevision>> revisions;
  if (fs::is_directory(repo / "snapshots", ec)) {
    for (const auto& snap : fs::directory_iterator(repo / "snapshots", ec)) {
      if (!snap.is_directory(ec)) continue;
      CachedRevision rev;
      rev.commit = snap.path().filename().string();
      rev.path = snap.path();
      if (auto it = refs_by_commit.find(rev.commit); it != refs_by_commit.end()) {
        rev.refs = it->second;
        std::sort(rev.refs.begin(), rev.refs.end());
      }
      std::set<fs::path> blobs;
      for (auto it = fs::recursive_directory_iterator(snap.path(), ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory(ec)) continue;
        const fs::path target = fs::weakly_canonical(it->path(), ec);
        if (ec || !fs::is_regular_file(target, ec)) {
          ec.clear();
          continue;  // a dangling link: not counted
        }
        ++rev.files;
        if (blobs.insert(target).second) {
          const auto size = static_cast<std::int64_t>(fs::file_size(target, ec));
          rev.size += size;
          blob_sizes[target] = size;
        }
      }
      ec.clear();
      rev.complete = snapshot_complete(snap.path());
      revisions.emplace_back(fs::last_write_time(snap.path(), ec), std::move(rev));
    }
  }
  std::sort(revisions.begin(), revisions.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (auto& [time, rev] : revisions) model.revisions.push_back(std::move(rev));
  for (const auto& [path, size] : blob_sizes) model.size_on_disk += size;
  return model;
}

}  // namespace

std::vector<CachedModel> scan_cache() {
  std::vector<CachedModel> models;
  const fs::path cache = hub_cache_dir();
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) return models;
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("models--", 0) != 0 || !entry.is_directory(ec)) continue;
    models.push_back(scan_repo(entry.path()));
  }
  std::sort(models.begin(), models.end(),
            [](const CachedModel& a, const CachedModel& b) { return a.model_id < b.model_id; });
  return models;
}

}  // namespace binscan

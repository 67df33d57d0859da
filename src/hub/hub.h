// Layer hub/ owns turning model ids into local directories: the Hugging Face cache, downloads,
// tokens, HTTP. May use: util.
//
// Hugging Face Hub: resolve a model id or directory to a local checkpoint directory, using
// and filling the cache exactly as huggingface_hub lays it out:
//
//   $HF_HUB_CACHE/models--org--name/
//     blobs/<etag>                      file contents (sha256 for LFS files, git sha1 otherwise)
//     blobs/<etag>.incomplete           a download in progress (resumed with a Range request)
//     refs/<revision>                   the commit hash a branch or tag pointed to
//     snapshots/<commit>/<file>         relative symlinks ../../blobs/<etag>
//     .no_exist/<commit>/<file>         files known to be absent at that commit
//   $HF_HUB_CACHE/.locks/models--org--name/<etag>.lock   flock()ed while a blob is downloaded
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace binscan {

struct HubOptions {
  std::string revision = "main";                    // branch, tag or commit
  std::optional<std::filesystem::path> token_file;  // --token-file
  bool show_progress = true;
};

struct ResolvedModel {
  std::filesystem::path dir;  // a directory holding config.json, preprocessor_config.json, weights
  std::string model_id;       // "org/name", or the directory as given
  std::string revision;       // commit hash when from the Hub cache; "" for a plain directory
  // Things the user should know but that did not stop us, e.g. "the Hub could not be reached;
  // using the cached snapshot". Printed by cli/ as warnings.
  std::vector<std::string> warnings;
};

// An existing directory is used as is; otherwise `model` is a repo id looked up in the cache
// (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub) and downloaded from HF_ENDPOINT when
// missing (unless HF_HUB_OFFLINE=1). Throws Error(kNotFound / kAuth / kNetwork / kOffline).
ResolvedModel resolve_model(const std::string& model, const HubOptions& options);

// One file of a model repository (e.g. preprocessor_config.json alone), from the cache or
// downloaded into it like resolve_model does. Throws Error(kNotFound) when the repo lacks it.
std::filesystem::path resolve_file(const std::string& repo_id, const std::string& filename,
                                   const HubOptions& options);

// The API token: --token-file, else $HF_TOKEN, else $HF_HOME/token (~/.cache/huggingface/token).
std::optional<std::string> find_token(const HubOptions& options);

// --- Environment, as huggingface_hub reads it -------------------------------------------------

std::filesystem::path hub_cache_dir();  // HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/...
std::filesystem::path
hf_home();                   // HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
std::string hub_endpoint();  // HF_ENDPOINT without trailing '/', else https://huggingface.co
bool hub_offline();          // HF_HUB_OFFLINE is 1/ON/YES/TRUE

// True for "org/name" or "name" made of [A-Za-z0-9._-] without "--" or ".." (huggingface_hub's
// validate_repo_id); such a string is a model id when no directory of that name exists.
bool is_repo_id(const std::string& text);

// "models--org--name" for "org/name".
std::string repo_folder_name(const std::string& repo_id);

// --- The cache's content, for `binscan models` ---------------------------------------------------

struct CachedRevision {
  std::string commit;
  std::vector<std::string> refs;  // branches/tags pointing at it, e.g. "main"
  int files = 0;
  std::int64_t size = 0;       // bytes of the blobs its files point to
  bool complete = false;       // has config.json, preprocessor_config.json and weights
  std::filesystem::path path;  // snapshots/<commit>
};

struct CachedModel {
  std::string model_id;                   // "org/name"
  std::filesystem::path path;             // models--org--name
  std::int64_t size_on_disk = 0;          // every blob, shared blobs counted once
  std::int64_t incomplete_bytes = 0;      // partial downloads (*.incomplete)
  std::vector<CachedRevision> revisions;  // newest snapshot first
};

// Every model repository in hub_cache_dir(), sorted by id. Entries that are not model repos
// (datasets--, spaces--, .locks) are skipped; broken ones are listed with what can be read.
std::vector<CachedModel> scan_cache();

}  // namespace binscan

// Hugging Face Hub: resolve a model id or directory to a local checkpoint directory, using
// and filling the cache exactly as huggingface_hub lays it out.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace binscan {

struct HubOptions {
  std::string revision = "main";                     // branch, tag or commit
  std::optional<std::filesystem::path> token_file;   // --token-file
  bool show_progress = true;
};

struct ResolvedModel {
  std::filesystem::path dir;  // a directory holding config.json, preprocessor_config.json, weights
  std::string model_id;       // "org/name", or the directory as given
  std::string revision;       // commit hash when from the Hub cache; "" for a plain directory
};

// An existing directory is used as is; otherwise `model` is a repo id looked up in the cache
// (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub) and downloaded from HF_ENDPOINT when
// missing (unless HF_HUB_OFFLINE=1). Throws Error(kNotFound / kAuth / kNetwork / kOffline).
ResolvedModel resolve_model(const std::string& model, const HubOptions& options);

// The API token: --token-file, else $HF_TOKEN, else $HF_HOME/token (~/.cache/huggingface/token).
std::optional<std::string> find_token(const HubOptions& options);

}  // namespace binscan

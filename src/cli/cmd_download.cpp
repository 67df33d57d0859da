// binscan download: fetch models from the Hugging Face Hub into the shared cache ahead of time,
// so later commands (and Python's transformers) find them without the network.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "hub/hub.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct DownloadOptions {
  std::vector<std::string> models;
  std::string revision = "main";
  std::string token_file;
  bool quiet = false;
};

int run_download(const DownloadOptions& opt) {
  HubOptions hub;
  hub.revision = opt.revision;
  if (!opt.token_file.empty()) hub.token_file = opt.token_file;
  hub.show_progress = !opt.quiet;
  return for_each_input(opt.models, [&](const std::string& model) {
    const ResolvedModel r = resolve_model(model, hub);
    for (const auto& w : r.warnings) print_warning(w);
    // The snapshot directory on stdout, like `huggingface-cli download`, for scripts.
    std::printf("%s\n", terminal_text(r.dir.string()).c_str());
  });
}

}  // namespace

void add_download_command(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<DownloadOptions>();
  auto* cmd = app.add_subcommand(
      "download", "Fetch models from the Hugging Face Hub into the shared cache, ahead of time");
  cmd->footer(
      "Downloads config.json, preprocessor_config.json and the safetensors weights (a single\n"
      "model.safetensors or the shards of model.safetensors.index.json) and prints the local\n"
      "snapshot directory. Files already cached are not fetched again.\n\n"
      "The cache is huggingface_hub's: $HF_HUB_CACHE, else $HF_HOME/hub, else\n"
      "~/.cache/huggingface/hub — models downloaded by Python are reused, and models downloaded\n"
      "here are found by transformers. An interrupted download resumes where it stopped; every\n"
      "file is checked against the Hub's sha256 (weights) or git hash (small files).\n\n"
      "Gated and private models need a token (https://huggingface.co/settings/tokens), taken\n"
      "from --token-file, else $HF_TOKEN, else $HF_HOME/token (written by `huggingface-cli\n"
      "login`). It is never accepted on the command line, where other users could see it.\n\n"
      "Environment: HF_ENDPOINT (default https://huggingface.co), HF_HUB_OFFLINE=1 (use the\n"
      "cache only), HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT (seconds, default 10).\n\n"
      "Examples:\n"
      "  binscan download google/vit-base-patch16-224 microsoft/resnet-50\n"
      "  binscan download google/vit-base-patch16-224 --revision "
      "3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3\n");
  cmd->add_option("models", opt->models, "Model ids, e.g. google/vit-base-patch16-224")->required();
  cmd->add_option("--revision", opt->revision, "Branch, tag or commit hash")->default_val("main");
  cmd->add_option("--token-file", opt->token_file, "File holding the Hugging Face token")
      ->check(CLI::ExistingFile);
  cmd->add_flag("-q,--quiet", opt->quiet, "No progress bars");
  cmd->callback([&run, opt] { run = [opt] { return run_download(*opt); }; });
}

}  // namespace binscan::cli

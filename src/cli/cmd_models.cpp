// binscan models: what the Hugging Face cache holds — models, revisions, sizes, readiness.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "hub/hub.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct ModelsOptions {
  std::string format = "text";
};

std::string human_size(std::int64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", v, units[i]);
  return buf;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

int run_models(const ModelsOptions& opt) {
  const auto models = scan_cache();
  const auto cache = hub_cache_dir();
  if (opt.format == "json") {
    nlohmann::ordered_json out;
    out["cache"] = cache.string();
    out["models"] = nlohmann::ordered_json::array();
    for (const auto& m : models) {
      nlohmann::ordered_json jm;
      jm["model"] = m.model_id;
      jm["path"] = m.path.string();
      jm["size_on_disk"] = m.size_on_disk;
      jm["incomplete_bytes"] = m.incomplete_bytes;
      jm["revisions"] = nlohmann::ordered_json::array();
      for (const auto& r : m.revisions) {
        nlohmann::ordered_json jr;
        jr["commit"] = r.commit;
        jr["refs"] = r.refs;
        jr["files"] = r.files;
        jr["size"] = r.size;
        jr["complete"] = r.complete;
        jr["path"] = r.path.string();
        jm["revisions"].push_back(std::move(jr));
      }
      out["models"].push_back(std::move(jm));
    }
    std::printf("%s\n",
                out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
    return 0;
  }
  if (models.empty()) {
    std::printf(
        "No models in the cache %s\nFetch one with: binscan download google/vit-base-patch16-224\n",
        cache.string().c_str());
    return 0;
  }
  std::size_t width = 5;
  for (const auto& m : models) width = std::max(width, m.model_id.size());
  std::printf("%-*s  %-12s  %-10s  %5s  %10s  %s\n", static_cast<int>(width), "MODEL", "REVISION",
              "REFS", "FILES", "SIZE", "STATUS");
  std::int64_t total = 0;
  for (const auto& m : models) {
    total += m.size_on_disk;
    if (m.revisions.empty()) {
      std::printf("%-*s  %-12s  %-10s  %5d  %10s  %s\n", static_cast<int>(width),
                  terminal_text(m.model_id).c_str(), "-", "-", 0,
                  human_size(m.incomplete_bytes).c_str(), "no snapshot");
    }
    for (const auto& r : m.revisions) {
      std::string status = r.complete ? "ready" : "partial";
      if (m.incomplete_bytes > 0)
        status += " (+" + human_size(m.incomplete_bytes) + " downloading/interrupted)";
      std::printf("%-*s  %-12s  %-10s  %5d  %10s  %s\n", static_cast<int>(width),
                  terminal_text(m.model_id).c_str(), terminal_text(r.commit.substr(0, 12)).c_str(),
                  r.refs.empty() ? "-" : terminal_text(join(r.refs)).c_str(), r.files,
                  human_size(r.size).c_str(), status.c_str());
    }
  }
  std::printf("\n%zu model%s, %s in %s\n", models.size(), models.size() == 1 ? "" : "s",
              human_size(total).c_str(), cache.string().c_str());
  return 0;
}

}  // namespace

void add_models_command(CLI::App& app, Runner& run) {
  auto opt = std::make_shared<ModelsOptions>();
  auto* cmd = app.add_subcommand(
      "models", "List the models in the Hugging Face cache, with revisions and sizes");
  cmd->footer(
      "Reads huggingface_hub's cache ($HF_HUB_CACHE, else $HF_HOME/hub, else\n"
      "~/.cache/huggingface/hub), whether binscan or Python filled it. One line per cached\n"
      "revision: the commit, the branches/tags pointing at it, its files and their size.\n"
      "STATUS is 'ready' when config.json, preprocessor_config.json and all weights are there,\n"
      "'partial' otherwise (run `binscan download MODEL` to complete it).\n\n"
      "--format json prints one JSON document: {\"cache\", \"models\": [{\"model\", \"path\",\n"
      "\"size_on_disk\", \"incomplete_bytes\", \"revisions\": [{\"commit\", \"refs\", \"files\", "
      "\"size\",\n"
      "\"complete\", \"path\"}]}]}.\n");
  cmd->add_option("--format", opt->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_val("text");
  cmd->callback([&run, opt] { run = [opt] { return run_models(*opt); }; });
}

}  // namespace binscan::cli

#include "cli/scan_models.h"

#include "classify/local_classifier.h"
#include "classify/remote_classifier.h"
#include "cli/commands.h"
#include "hub/hub.h"
#include "util/error.h"

namespace binscan::cli {

std::unique_ptr<LocalClassifier> open_local_model(const std::string& name,
                                                  const ModelOpenOptions& o) {
  HubOptions hub;
  hub.revision = o.revision;
  if (!o.token_file.empty()) hub.token_file = o.token_file;
  hub.show_progress = o.show_progress;
  const ResolvedModel resolved = resolve_model(name, hub);
  // e.g. "the Hub could not be reached; using the cached snapshot"
  for (const auto& warning : resolved.warnings) print_warning(warning);
  LocalOptions l;
  l.threads = o.engine_threads;
  l.max_batch = o.batch;
  l.model_id = resolved.model_id;
  l.revision = resolved.revision;
  return open_local_classifier(resolved.dir, l);
}

std::unique_ptr<Classifier> open_scan_model(const std::string& spec, const ModelOpenOptions& o) {
  static constexpr std::string_view kRemotePrefix = "remote:";
  const bool remote = o.remote || spec.rfind(kRemotePrefix, 0) == 0;
  const std::string name =
      spec.rfind(kRemotePrefix, 0) == 0 ? spec.substr(kRemotePrefix.size()) : spec;
  if (name.empty()) throw Error(ErrorKind::kConfig, spec, "empty model name");
  if (remote) {
    RemoteOptions r;
    r.model_id = name;
    r.endpoint = o.endpoint;
    if (!o.token_file.empty()) r.token_file = o.token_file;
    // The remote API answers one photo per request; a batch's requests run concurrently.
    r.jobs = std::max(1, std::min(o.batch, 8));
    return std::make_unique<RemoteClassifier>(r);
  }
  return open_local_model(name, o);
}

}  // namespace binscan::cli

#include "cli/scan_models.h"

#include "util/error.h"

namespace binscan::cli {

// Until the local and remote classifiers land.
std::unique_ptr<Classifier> open_scan_model(const std::string& spec, const ModelOpenOptions&) {
  throw Error(ErrorKind::kUnsupported, spec, "classifiers are not available in this build yet");
}

}  // namespace binscan::cli

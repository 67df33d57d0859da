// Opening the models a scan uses: local checkpoints (directory or Hub id) or the Inference API.
#pragma once

#include <memory>
#include <string>

#include "classify/classifier.h"
#include "classify/local_classifier.h"

namespace binscan::cli {

struct ModelOpenOptions {
  bool remote = false;  // all models remote; a "remote:" prefix makes one model remote
  std::string revision = "main";
  std::string token_file;
  std::string endpoint;
  int engine_threads = 0;
  int batch = 8;
  bool show_progress = true;
};

// A local checkpoint: a directory as is, or a Hub id from the cache (downloaded when missing);
// the hub's warnings (e.g. cached copy used while offline) are printed. Shared by classify and
// scan.
std::unique_ptr<LocalClassifier> open_local_model(const std::string& name,
                                                  const ModelOpenOptions& o);

std::unique_ptr<Classifier> open_scan_model(const std::string& spec, const ModelOpenOptions& o);

}  // namespace binscan::cli

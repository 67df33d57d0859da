// The flags that choose a model and say how to open it, declared once for every command that
// opens one (scan, classify, bench, preprocess): --model, --revision, --token-file, --endpoint,
// --timeout, --retries, --remote, --threads. Their values are checked while the command line is
// parsed, so a bad one is a usage error (exit status kUsageExit, see cli/commands.h) before any
// work starts, the same in every command.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "classify/local_classifier.h"
#include "classify/remote_classifier.h"
#include "hub/hub.h"
#include "pipeline/tiles.h"

namespace binscan::cli {

struct ModelFlags {
  std::vector<std::string> models;  // --model: directories or Hub ids (scan: several)
  std::string revision = "main";    // --revision
  std::string token_file;           // --token-file
  std::string endpoint;             // --endpoint: the whole Inference API URL
  double timeout = 60;              // --timeout: seconds per remote request
  int retries = 4;                  // --retries of a remote request
  bool remote = false;              // --remote: the Inference API instead of the local engine
  int threads = 0;                  // --threads: 0 = all cores
  std::string precision = "fp32";   // --precision: fp32 | bf16 | int8 | fast
  std::string calibration;          // --calibration FILE: int8's, else the model's default one
  bool fast_decode = false;         // --fast-decode: JPEG DCT scaling
  // Zero-shot (CLIP) models: --label (repeatable), --labels-file (one per line), --template.
  std::vector<std::string> labels;
  std::string labels_file;
  std::string hypothesis_template = std::string(kDefaultHypothesisTemplate);

  // The model of a command that takes one.
  const std::string& model() const { return models.at(0); }
};

// Which of the flags a command has, and its own words for --model and --threads.
struct ModelFlagsUse {
  bool several = false;           // --model is repeatable (scan)
  bool remote = true;             // --remote, --endpoint, --timeout, --retries
  bool threads = true;            // --threads
  bool precision = true;          // --precision
  bool fast_decode = true;        // --fast-decode
  bool candidate_labels = false;  // --label, --labels-file, --template
  // The flag naming the Hub token's file (serve uses --token-file for its own API token).
  std::string hub_token_flag = "--token-file";
  std::string model_help = "Hugging Face model directory or model id";
  std::string remote_help = "Classify with the Hugging Face Inference API instead";
  std::string threads_help = "CPU threads (0: all cores)";
};

void add_model_flags(CLI::App& cmd, ModelFlags& flags, const ModelFlagsUse& use = {});

// --tiles GRID (classify, scan): the grid parsed into `grid` while the command line is read.
void add_tiles_flag(CLI::App& cmd, TileGrid& grid);

// Where a token comes from, for a command's --help.
extern const char* const kTokenHelp;

HubOptions hub_options(const ModelFlags& flags, bool show_progress = true);

// --precision (and --calibration) as the engine takes it, for the model in `dir` that the user
// named `name`: bf16 or int8 on a CPU without it is refused (Error kUnsupported, one line naming
// the missing feature); int8 without a calibration (--calibration FILE, else the default one of
// `binscan calibrate`) is refused in one line giving the calibrate command, and so is one made
// for other weights. fast picks int8 where it runs and the model has a calibration, else bf16 where
// it runs, else fp32, and says which and why on stderr (once per model and process, even under
// --quiet: results depend on it).
struct PrecisionChoice {
  Precision precision = Precision::kFp32;
  std::shared_ptr<const ActivationRanges> ranges;  // int8
};
PrecisionChoice resolve_precision(const ModelFlags& flags, const std::filesystem::path& dir,
                                  const std::string& name);

// The candidate labels of --label and --labels-file (the file's lines, blank ones skipped), in
// that order. Throws Error(kIo) naming an unreadable file.
std::vector<std::string> candidate_labels(const ModelFlags& flags);

// A local checkpoint: a directory as is, or a Hub id from the cache (downloaded when missing);
// the hub's warnings (e.g. cached copy used while offline) are printed. `several`: one of several
// models given the same flags, so a classifier ignores the candidate labels meant for the CLIP
// ones instead of refusing them. `labels_per_use`: a CLIP model may come without labels (serve:
// each request brings its own).
std::unique_ptr<LocalClassifier> open_local_model(const std::string& name, const ModelFlags& flags,
                                                  int engine_threads, int batch,
                                                  bool show_progress = true, bool several = false,
                                                  bool labels_per_use = false, int replicas = 1);

// The Inference API for `model_id` (the URL's model and ModelInfo::id), `jobs` requests at once;
// with candidate labels (--label, --labels-file) a zero-shot request with --template.
std::unique_ptr<RemoteClassifier> open_remote_model(const std::string& model_id,
                                                    const ModelFlags& flags, int jobs);

// One --model of scan: remote with --remote or a "remote:" prefix, else local.
// `replicas`: LocalOptions::replicas of a local model.
std::unique_ptr<Classifier> open_scan_model(const std::string& spec, const ModelFlags& flags,
                                            int engine_threads, int batch, bool show_progress,
                                            int replicas = 1);

}  // namespace binscan::cli

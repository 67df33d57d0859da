// The scan: the photo pipeline (pipeline/run.h) into a store. The store sink looks each photo up
// on the worker side (an unchanged known path is not read again; a known content hash runs only
// the models it lacks), then commits each batch (photos, paths, results, verdicts) to the Store
// in one transaction.
//
//   collect (walk, sniff, shard) ─► pipeline workers: look up the store, read, sha256, decode,
//   prepare per model ─► batch of B photos ─► each model's run() ─► verdicts ─► one transaction
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/verdict.h"
#include "classify/classifier.h"
#include "pipeline/inputs.h"  // shard_of
#include "pipeline/run.h"
#include "store/store.h"

namespace binscan {

struct ScanModel {
  Classifier* classifier = nullptr;  // not owned
  ModelKey key;                      // how its results are stored (id, revision)
  BinLabels bins;
};

// How much a per-file note matters: kInfo for what is left alone on purpose (a file that is not
// an image), kWarning for what went wrong (unreadable input, undecodable photo, a failed model).
enum class NoteSeverity { kInfo, kWarning };

struct ScanOptions {
  // Batch, decode workers and their nice value, top-k, the stop flag. run_models = false: decode
  // and prepare only; nothing is run or stored (to time the input side alone).
  PipelineOptions pipeline;
  double threshold = kDefaultBinThreshold;
  bool retry_failed = false;  // decode again photos stored with an error
  bool show_progress = true;
  // Several machines share the work: this run takes shard `shard` (1-based) of `shards`, the
  // files whose path relative to the input they were found under hashes to it (see shard_of).
  int shard = 1;
  int shards = 1;
  // With a store that has a work queue (PostgreSQL): the photos found under the inputs are
  // enqueued, then this process works on the queue with the others (no inputs: it only takes
  // work, `binscan work`), claiming `batch` paths at a time under a lease of `lease`. It ends
  // when nothing is pending and no other worker holds a lease, or, with `follow`, keeps
  // waiting for new work until stopped.
  std::chrono::seconds lease{300};
  bool follow = false;
  bool enqueue_only = false;  // queue what the inputs hold and leave the work to `binscan work`
  // Per-file notes ("skipped: not an image", "failed: ..."), called on the calling thread, with
  // how much they matter.
  std::function<void(const std::string& path, NoteSeverity severity, const std::string& note)> note;
};

// How a scan ended: every photo classified by every model, something failed or is pending, or
// stopped by the user.
enum class ScanStatus { kComplete, kIncomplete, kInterrupted };
std::string_view status_name(ScanStatus status);  // "complete", "incomplete", "interrupted"

struct ScanSummary {
  int files = 0;           // regular files found
  int input_errors = 0;    // inputs that could not be walked
  int images = 0;          // files that are images by content
  int not_images = 0;      // skipped
  int failed = 0;          // unreadable or undecodable (stored with their error when readable)
  int already_done = 0;    // photos every model had already classified
  int classified = 0;      // photos that got at least one new result
  int duplicates = 0;      // same content as another photo of this run
  int relocated = 0;       // stored photos found at a new path
  int not_reached = 0;     // photos not looked at because the run was interrupted
  int other_shards = 0;    // files left to the other shards (--shard)
  int model_failures = 0;  // (photo, model) inferences that failed
  std::vector<int> new_results;  // per model
  int pending = 0;               // (photo, model) pairs that may still lack a result
  int enqueued = -1;             // work queue: paths this run queued (-1: no queue)
  bool interrupted = false;
  double seconds = 0;
  int models = 0;

  bool complete() const { return !interrupted && failed == 0 && pending == 0 && input_errors == 0; }
  ScanStatus status() const;
  int total_new_results() const;
  // e.g. "scanned 42 files: 40 photos (38 classified, 2 already done), 1 skipped (not an image),
  // 1 failed; 76 new results from 2 models; 0 pending"
  std::string line() const;
  nlohmann::json to_json() const;
};

// Runs the scan. Per-file problems become notes and counts; throws Error only for problems of
// the whole run (database not writable, a model that fails every batch is still per-photo).
ScanSummary run_scan(Store* store, const std::vector<std::filesystem::path>& inputs,
                     std::vector<ScanModel>& models, const ScanOptions& options);

// How a model's results are keyed in the store: its id and revision when it has one (Hub models);
// for a plain local directory, the absolute directory and "sha256:" + the first 16 hex digits of
// a hash over its config.json, preprocessor_config.json and weight files, so new weights written
// into the same directory count as a new model (their results are not mixed with the old ones).
// A zero-shot model's run carries its candidate labels (candidate_labels_json) and template.
ModelKey model_key_for(const ModelInfo& info);
// The candidate labels as a survey stores them: a JSON array, in the order given.
std::string candidate_labels_json(const std::vector<std::string>& labels);

// The JSON stored for a result's top-k: [{"label": ..., "score": ..., "class_id": ...}, ...].
std::string top_to_json(const std::vector<Prediction>& top);

}  // namespace binscan

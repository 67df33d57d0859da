// binscan calibrate: int8's activation ranges for a model. Runs the model in fp32 on the photos
// through the normal pipeline (decoding and preprocessing as classify does them) and records the
// largest |value| at the input of every layer int8 quantises, then writes them with what
// identifies the weights (classify/calibration.h), by default where --precision int8 and fast
// look for them.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "classify/calibration.h"
#include "classify/local_classifier.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "hub/hub.h"
#include "model/config.h"
#include "pipeline/inputs.h"
#include "pipeline/run.h"
#include "util/error.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

struct CalibrateOptions {
  ModelFlags model;  // --model, --revision, --token-file, --threads
  std::vector<std::string> inputs;
  std::string out;  // --out FILE; default: default_calibration_path
  int batch = 8;
};

// Counts the photos the model ran on; reports the others.
class CountSink : public PhotoSink {
 public:
  void finish(PhotoItem& item) override {
    ++failed;
    if (item.error) print_error(format_error_line(item.input.name, item.error->cause()));
  }
  void finish_batch(std::span<PhotoItem> items) override {
    for (const PhotoItem& item : items) {
      const ModelRun& run = item.runs.at(0);
      if (run.result) {
        ++ran;
      } else {
        ++failed;
        if (run.error) print_error(format_error_line(item.input.name, run.error->cause()));
      }
    }
  }
  int ran = 0, failed = 0;
};

int run_calibrate(const CalibrateOptions& o) {
  if (o.batch < 1) throw Error(ErrorKind::kConfig, "--batch", "must be at least 1");
  CollectOptions collect;
  collect.as_given = true;
  CollectedPhotos photos =
      collect_photos(std::vector<std::filesystem::path>(o.inputs.begin(), o.inputs.end()), collect);
  for (const auto& [path, cause] : photos.errors) print_error(format_error_line(path, cause));
  if (photos.photos.empty()) throw Error(ErrorKind::kConfig, "calibrate", "no photos to run");

  const ResolvedModel resolved = resolve_model(o.model.model(), hub_options(o.model));
  for (const auto& w : resolved.warnings) print_warning(w);
  LocalOptions local;
  local.threads = resolve_thread_count(o.model.threads);
  local.max_batch = o.batch;
  local.model_id = resolved.model_id;
  local.revision = resolved.revision;
  // CLIP: int8 quantises the image tower alone, so any label makes a classifier that runs it.
  if (ModelConfig::from_file(resolved.dir / "config.json").is_clip())
    local.candidate_labels = {"a photo"};
  const auto classifier = open_local_classifier(resolved.dir, local);  // fp32
  Calibration c;
  classifier->observe_ranges(&c.ranges);

  ListFeed feed(std::move(photos.photos));
  CountSink sink;
  PipelineOptions po;
  po.batch = o.batch;
  po.workers = local.threads;
  Classifier* const one[] = {classifier.get()};
  run_pipeline(feed, one, sink, po);
  classifier->observe_ranges(nullptr);
  if (sink.ran == 0) throw Error(ErrorKind::kConfig, "calibrate", "no photo could be classified");

  c.binscan_version = binscan_version();
  c.model_id = resolved.model_id;
  c.revision = resolved.revision;
  c.weights = weights_identity(resolved.dir, c.weights_bytes);
  c.photos = sink.ran;
  const std::filesystem::path path =
      o.out.empty() ? default_calibration_path(c.weights) : std::filesystem::path(o.out);
  save_calibration(c, path);
  std::fprintf(stderr, "binscan: calibrated %s on %d photo%s (%zu layers): %s\n",
               o.model.model().c_str(), c.photos, c.photos == 1 ? "" : "s", c.ranges.size(),
               path.c_str());
  std::printf("%s\n", path.c_str());
  return photos.errors.empty() && sink.ran == c.photos && sink.failed == 0 ? 0 : 1;
}

}  // namespace

void add_calibrate_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<CalibrateOptions>();
  auto* cmd = app.add_subcommand("calibrate", "Calibrate a model for --precision int8");
  cmd->footer(
      "Runs the model exactly (fp32) on the photos -- decoded and preprocessed as classify does\n"
      "-- and records the largest |value| entering each layer that int8 quantises; int8 then\n"
      "divides that range into 255 steps (127 without AVX-512 VNNI, or for signed inputs).\n"
      "Use photos like the ones you will classify (a few dozen are enough; an outlier widens\n"
      "the steps). Writes a small JSON file: the ranges, the photo count, the binscan version\n"
      "and the weights' sha256 (a calibration is only used with the weights it was made for),\n"
      "by default in binscan's cache ($BINSCAN_CACHE, else $XDG_CACHE_HOME/binscan, else\n"
      "~/.cache/binscan), where --precision int8 and fast find it; --out FILE writes it\n"
      "elsewhere, for --calibration FILE. Prints the file's path. For a CLIP model it runs\n"
      "the image tower only: int8 leaves the text tower in fp32 (it runs once per label set,\n"
      "not per photo).\n"
      "\n"
      "Example:\n"
      "  binscan calibrate --model microsoft/resnet-50 street-photos/\n"
      "  binscan scan --model microsoft/resnet-50 --precision int8 --db survey.db photos/");
  ModelFlagsUse use;
  use.remote = false;
  use.precision = false;  // always fp32
  use.fast_decode = false;
  add_model_flags(*cmd, opts->model, use);
  cmd->add_option("--out,-o", opts->out, "Write the calibration here instead");
  cmd->add_option("--batch,-b", opts->batch, "Photos per forward pass")->capture_default_str();
  cmd->add_option("images", opts->inputs, "Photos or folders of photos")->required();
  cmd->callback([opts, &run] { run = [opts] { return run_calibrate(*opts); }; });
}

}  // namespace binscan::cli

// binscan bench: how fast the local engine runs a model's forward pass on this machine.
// Synthetic input (no decoding or preprocessing), a few warm-up passes, then the median of timed
// passes, reported per image.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "classify/local_classifier.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "hub/hub.h"
#include "model/config.h"
#include "util/error.h"
#include "util/tensor.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

struct BenchOptions {
  ModelFlags model;  // --model, --revision, --token-file, --threads
  int batch = 1;
  int iterations = 10;
  int warmup = 2;
  std::string format = "text";  // text | json
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

constexpr int kMaxBenchBatch = 1024;

int run_bench(const BenchOptions& o) {
  if (o.batch < 1) throw Error(ErrorKind::kConfig, "--batch", "must be at least 1");
  // A batch is held in memory whole (input and activations): 1000000 ended in bad_alloc.
  if (o.batch > kMaxBenchBatch)
    throw Error(ErrorKind::kConfig, "--batch",
                "must be at most " + std::to_string(kMaxBenchBatch) + " (got " +
                    std::to_string(o.batch) +
                    "; one pass holds every image of the batch in "
                    "memory, about 2.4 MB of input each at 224x224 before activations)");
  if (o.iterations < 1) throw Error(ErrorKind::kConfig, "--iterations", "must be at least 1");
  if (o.warmup < 0) throw Error(ErrorKind::kConfig, "--warmup", "must be 0 or more");
  const int threads = resolve_thread_count(o.model.threads);

  using clock = std::chrono::steady_clock;
  // A directory as is, a model id from the Hub cache (downloaded when missing, not timed).
  const ResolvedModel resolved = resolve_model(o.model.model(), hub_options(o.model));
  for (const auto& w : resolved.warnings) print_warning(w);
  const auto load_start = clock::now();
  LocalOptions local;
  local.threads = threads;
  local.max_batch = o.batch;
  local.model_id = resolved.model_id;
  local.revision = resolved.revision;
  const PrecisionChoice precision = resolve_precision(o.model, resolved.dir, o.model.model());
  local.precision = precision.precision;
  local.ranges = precision.ranges;
  local.candidate_labels = candidate_labels(o.model);
  local.hypothesis_template = o.model.hypothesis_template;
  // A CLIP model is timed as a zero-shot classifier: the image tower and the similarities to
  // the labels (their text embeddings are computed once, while loading). Without --label, two.
  if (local.candidate_labels.empty() &&
      ModelConfig::from_file(resolved.dir / "config.json").is_clip())
    local.candidate_labels = {"a trash bin", "a street with no bin"};
  auto classifier = open_local_classifier(resolved.dir, local);
  const double load_s = std::chrono::duration<double>(clock::now() - load_start).count();

  int height = classifier->input_height();
  int width = classifier->input_width();
  if (height == 0 || width == 0) {  // a processor that does not resize: the model's native size
    const auto& cfg = classifier->config();
    height = width = cfg.is_vit() ? std::get<VitConfig>(cfg.arch).image_size : 224;
  }
  // Normalised pixel values are roughly standard normal; a fixed seed keeps runs comparable.
  Tensor input({o.batch, 3, height, width});
  std::mt19937 rng(12345);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& v : input.data) v = normal(rng);

  for (int i = 0; i < o.warmup; ++i) classifier->forward(input);
  std::vector<double> ms;
  for (int i = 0; i < o.iterations; ++i) {
    const auto t0 = clock::now();
    const Tensor out = classifier->forward(input);
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    if (out.data.empty())
      throw Error(ErrorKind::kInternal, o.model.model(), "the engine returned nothing");
  }
  std::sort(ms.begin(), ms.end());
  const std::size_t n = ms.size();
  const double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  const double ms_per_image = median / o.batch;
  const double images_per_second = 1000.0 / ms_per_image;

  if (o.format == "json") {
    const nlohmann::ordered_json j{
        {"model", o.model.model()},     {"batch", o.batch},
        {"threads", threads},           {"precision", classifier->info().precision},
        {"ms_per_image", ms_per_image}, {"images_per_second", images_per_second}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %s, %d labels, input %dx%d\n", o.model.model().c_str(),
                classifier->config().architecture.c_str(), classifier->config().num_labels(), width,
                height);
    std::printf("batch %d, %d thread%s, %s: %.2f ms/image, %.1f images/s\n", o.batch, threads,
                threads == 1 ? "" : "s", classifier->info().precision.c_str(), ms_per_image,
                images_per_second);
    std::printf("  median of %d passes (min %.1f, max %.1f ms per pass) after %d warm-up\n",
                o.iterations, ms.front(), ms.back(), o.warmup);
    std::printf("  load + weight preparation %.2f s, peak memory %.0f MB\n", load_s, peak_rss_mb());
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<BenchOptions>();
  auto* cmd = app.add_subcommand("bench", "Time the local engine's forward pass");
  cmd->footer(
      "Loads the model, runs WARMUP untimed passes and ITERATIONS timed passes on synthetic\n"
      "input of the model's size, and reports the median time per image and images per second.\n"
      "Decoding and preprocessing are not included. A CLIP model is timed as a zero-shot\n"
      "classifier (image tower and similarities) over --label / --labels-file, or two labels.\n"
      "\n"
      "--format json prints one line:\n"
      "  {\"model\": M, \"batch\": B, \"threads\": N, \"precision\": P, \"ms_per_image\": X,\n"
      "   \"images_per_second\": Y}\n"
      "\n"
      "Example:\n"
      "  binscan bench --model ./resnet-50 --batch 8 --threads 2");
  ModelFlagsUse use;
  use.remote = false;  // the local engine is what is measured
  use.candidate_labels = true;
  use.fast_decode = false;  // synthetic input: nothing is decoded
  add_model_flags(*cmd, opts->model, use);
  cmd->add_option("--batch,-b", opts->batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--iterations,-n", opts->iterations, "Timed passes")->capture_default_str();
  cmd->add_option("--warmup", opts->warmup, "Untimed passes first")->capture_default_str();
  cmd->add_option("--format", opts->format, "Output: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opts, &run] { run = [opts] { return run_bench(*opts); }; });
}

}  // namespace binscan::cli

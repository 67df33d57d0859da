#include "cli/model_flags.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <set>

#include "classify/calibration.h"
#include "cli/commands.h"
#include "util/error.h"
#include "util/file.h"
#include "util/text.h"

namespace binscan::cli {

namespace fs = std::filesystem;

const char* const kTokenHelp =
    "File holding the Hugging Face token (else $HF_TOKEN, else $HF_HOME/token)";

void add_model_flags(CLI::App& cmd, ModelFlags& flags, const ModelFlagsUse& use) {
  if (use.several) {
    cmd.add_option("--model,-m", flags.models, use.model_help)->required();
  } else {
    cmd.add_option_function<std::string>(
           "--model,-m", [&flags](const std::string& m) { flags.models = {m}; }, use.model_help)
        ->required();
  }
  cmd.add_option("--revision", flags.revision, "Hub revision of a model id: branch, tag or commit")
      ->capture_default_str();
  cmd.add_option(use.hub_token_flag, flags.token_file, kTokenHelp)->check(CLI::ExistingFile);
  if (use.threads) {
    cmd.add_option("--threads,-j", flags.threads, use.threads_help)
        ->capture_default_str()
        ->check(CLI::Range(0, 256));
  }
  if (use.precision) {
    cmd.add_option("--precision", flags.precision,
                   "Engine arithmetic. fp32: exact, matches transformers. bf16: matmuls and\n"
                   "convolutions take bfloat16 weights and inputs (8 significant bits) and sum in\n"
                   "fp32; LayerNorm, softmax, GELU, residual sums and the classifier stay fp32.\n"
                   "1.5-2x faster on CPUs with AVX-512 BF16 or AMX, refused elsewhere. int8\n"
                   "(AVX2 and up): convolutions and matmuls with 8-bit weights and inputs, scaled\n"
                   "by a calibration (binscan calibrate) -- fastest with AVX-512 VNNI; ViT keeps\n"
                   "attention, LayerNorm, softmax and GELU in fp32, CLIP its text tower. fast:\n"
                   "the quickest this CPU runs (int8 with a calibration, else bf16 where it can,\n"
                   "else fp32; said on stderr). Results record their precision; the README's\n"
                   "fidelity table gives the accuracy cost")
        ->capture_default_str()
        ->check(CLI::IsMember({"fp32", "bf16", "int8", "fast"}));
    cmd.add_option("--calibration", flags.calibration,
                   "int8's calibration file (binscan calibrate --out FILE); default: the one\n"
                   "binscan calibrate keeps for the model's weights in binscan's cache")
        ->check(CLI::ExistingFile);
  }
  if (use.fast_decode) {
    cmd.add_flag("--fast-decode", flags.fast_decode,
                 "Decode JPEGs at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg-turbo), the\n"
                 "smallest that still leaves the photo at least as large as the model's resize\n"
                 "needs (224x224 for ViT, a 256-pixel short side for ResNet-50; with several\n"
                 "models the largest need wins): a 12 MP photo decodes several times faster.\n"
                 "Not bit-exact (pixels close to, not equal to, transformers'); results record\n"
                 "the scale. PNG and WebP are decoded in full");
  }
  if (use.candidate_labels) {
    // One value per --label: a label is never split at commas, and the photos after it are not
    // taken for labels.
    cmd.add_option(
           "--label", flags.labels,
           "A candidate label of a zero-shot (CLIP) model; repeat for each. A label may hold\n"
           "commas (\"ashcan, trash can, garbage can\"). E.g. --label \"an underground waste\n"
           "container\" --label \"a public litter bin\" --label \"a street with no bin\"")
        ->allow_extra_args(false);
    cmd.add_option("--labels-file", flags.labels_file,
                   "Candidate labels of a zero-shot model, one per line (after any --label)")
        ->check(CLI::ExistingFile);
    cmd.add_option("--template", flags.hypothesis_template,
                   "The sentence each candidate label is put in ({} is the label), as the\n"
                   "zero-shot pipeline's hypothesis_template")
        ->capture_default_str();
  }
  if (use.remote) {
    cmd.add_flag("--remote", flags.remote, use.remote_help);
    cmd.add_option("--endpoint", flags.endpoint,
                   "Inference API URL (whole URL; default "
                   "https://router.huggingface.co/hf-inference/models/MODEL)");
    cmd.add_option("--timeout", flags.timeout, "Seconds to wait for each remote answer")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd.add_option("--retries", flags.retries,
                   "Retries of a remote request after 429, 5xx, timeouts or connection failures")
        ->capture_default_str()
        ->check(CLI::Range(0, 100));
  }
}

void add_tiles_flag(CLI::App& cmd, TileGrid& grid) {
  cmd.add_option_function<std::string>(
         "--tiles",
         [&grid](const std::string& spec) {
           try {
             grid = TileGrid::parse(spec);
           } catch (const Error& e) {
             throw CLI::ValidationError("--tiles", e.cause());
           }
         },
         "Also classify overlapping tiles of each photo, so a bin that is small or off-centre\n"
         "in the whole frame is seen up close: COLSxROWS (2x2, 3x2: three across, two down) or\n"
         "auto (tiles about half the photo's short side, at least twice the model's input:\n"
         "3x2 for a 12 MP photo). Each tile is classified as that crop saved as a file of its\n"
         "own would be; the bin score is the highest of the photo's and its tiles', and the\n"
         "best tile's box (in the photo as displayed) is kept. Costs (tiles + 1)x the work;\n"
         "decodes at full size (--fast-decode does not apply). Default: none, the whole photo\n"
         "only, as the Hugging Face widget sees it")
      ->type_name("GRID");
}

HubOptions hub_options(const ModelFlags& flags, bool show_progress) {
  HubOptions hub;
  hub.revision = flags.revision;
  if (!flags.token_file.empty()) hub.token_file = flags.token_file;
  hub.show_progress = show_progress;
  return hub;
}

namespace {

// The model's int8 calibration: --calibration, else the default file when it exists. Sets `why`
// (and returns null) when there is none or it is not usable.
std::shared_ptr<const ActivationRanges> find_calibration(const ModelFlags& flags,
                                                         const fs::path& dir,
                                                         const std::string& name,
                                                         std::string& why) {
  const std::string command = "binscan calibrate --model " + name + " PHOTOS...";
  std::uint64_t bytes = 0;
  const std::string identity = weights_identity(dir, bytes);
  const fs::path path =
      flags.calibration.empty() ? default_calibration_path(identity) : fs::path(flags.calibration);
  if (flags.calibration.empty() && !fs::exists(path)) {
    why = "no int8 calibration for " + name + "; make one with: " + command;
    return nullptr;
  }
  Calibration c = load_calibration(path);
  if (c.weights != identity) {
    why = path.string() + " was made for other weights (" + c.weights + ", this model's are " +
          identity + "); recalibrate with: " + command;
    return nullptr;
  }
  return std::make_shared<const ActivationRanges>(std::move(c.ranges));
}

}  // namespace

PrecisionChoice resolve_precision(const ModelFlags& flags, const fs::path& dir,
                                  const std::string& name) {
  const std::string& flag = flags.precision;
  if (flag == "fp32") return {};
  const std::string no_bf16 = bf16_unsupported_reason();
  if (flag == "bf16") {
    if (!no_bf16.empty()) throw Error(ErrorKind::kUnsupported, "--precision bf16", no_bf16);
    return {Precision::kBf16, nullptr};
  }
  const std::string no_int8 = int8_unsupported_reason();
  if (flag == "int8") {
    if (!no_int8.empty()) throw Error(ErrorKind::kUnsupported, "--precision int8", no_int8);
    std::string why;
    auto ranges = find_calibration(flags, dir, name, why);
    if (!ranges) throw Error(ErrorKind::kConfig, "--precision int8", why);
    return {Precision::kInt8, std::move(ranges)};
  }
  if (flag != "fast")
    throw Error(ErrorKind::kConfig, "--precision " + flag, "fp32, bf16, int8 or fast");
  // int8 first: measured faster than bf16 on AVX-512 VNNI (README, Performance), and the only
  // reduced precision of CPUs without AVX-512 BF16.
  std::string why_not_int8 = no_int8;
  std::shared_ptr<const ActivationRanges> ranges;
  if (no_int8.empty()) ranges = find_calibration(flags, dir, name, why_not_int8);
  PrecisionChoice choice;
  std::string said;
  if (ranges) {
    choice = {Precision::kInt8, std::move(ranges)};
    said = "int8 for " + name + " (calibrated)";
  } else if (no_bf16.empty()) {
    choice = {Precision::kBf16, nullptr};
    said = "bf16 for " + name + " (this CPU has AVX-512 BF16 or AMX); not int8: " + why_not_int8;
  } else {
    said = "fp32 for " + name + "; not int8: " + why_not_int8 + "; not bf16: " + no_bf16;
  }
  static std::mutex mutex;
  static std::set<std::string> told;
  const std::lock_guard lock(mutex);
  if (told.insert(name).second)
    std::fprintf(stderr, "binscan: --precision fast: %s\n", said.c_str());
  return choice;
}

std::vector<std::string> candidate_labels(const ModelFlags& flags) {
  std::vector<std::string> labels = flags.labels;
  if (!flags.labels_file.empty()) {
    const std::string text = read_text_file(flags.labels_file);
    std::size_t start = 0;
    while (start < text.size()) {
      auto end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!trim(line).empty()) labels.push_back(line);
      start = end + 1;
    }
    if (labels.size() == flags.labels.size())
      throw Error(ErrorKind::kFormat, flags.labels_file, "holds no labels");
  }
  return labels;
}

std::unique_ptr<LocalClassifier> open_local_model(const std::string& name, const ModelFlags& flags,
                                                  int engine_threads, int batch, bool show_progress,
                                                  bool several, bool labels_per_use, int replicas) {
  const ResolvedModel resolved = resolve_model(name, hub_options(flags, show_progress));
  // e.g. "the Hub could not be reached; using the cached snapshot"
  for (const auto& warning : resolved.warnings) print_warning(warning);
  LocalOptions l;
  l.threads = engine_threads;
  l.max_batch = batch;
  l.replicas = replicas;
  l.model_id = resolved.model_id;
  l.revision = resolved.revision;
  const PrecisionChoice precision = resolve_precision(flags, resolved.dir, name);
  l.precision = precision.precision;
  l.ranges = precision.ranges;
  l.candidate_labels = candidate_labels(flags);
  l.hypothesis_template = flags.hypothesis_template;
  l.labels_for_zero_shot_only = several;
  l.labels_per_use = labels_per_use;
  return open_local_classifier(resolved.dir, l);
}

std::unique_ptr<RemoteClassifier> open_remote_model(const std::string& model_id,
                                                    const ModelFlags& flags, int jobs) {
  RemoteOptions r;
  r.model_id = model_id;
  r.endpoint = flags.endpoint;
  if (!flags.token_file.empty()) r.token_file = flags.token_file;
  r.jobs = jobs;
  r.timeout_s = flags.timeout;
  r.max_retries = flags.retries;
  // Candidate labels make the request zero-shot (the API cannot tell us the model is CLIP).
  r.candidate_labels = candidate_labels(flags);
  r.hypothesis_template = flags.hypothesis_template;
  return std::make_unique<RemoteClassifier>(r);
}

std::unique_ptr<Classifier> open_scan_model(const std::string& spec, const ModelFlags& flags,
                                            int engine_threads, int batch, bool show_progress,
                                            int replicas) {
  static constexpr std::string_view kRemotePrefix = "remote:";
  const bool prefixed = spec.rfind(kRemotePrefix, 0) == 0;
  const std::string name = prefixed ? spec.substr(kRemotePrefix.size()) : spec;
  if (name.empty()) throw Error(ErrorKind::kConfig, spec, "empty model name");
  if (flags.remote || prefixed) {
    // The remote API answers one photo per request; a batch's requests run concurrently.
    return open_remote_model(name, flags, std::max(1, std::min(batch, 8)));
  }
  return open_local_model(name, flags, engine_threads, batch, show_progress,
                          flags.models.size() > 1, false, replicas);
}

}  // namespace binscan::cli

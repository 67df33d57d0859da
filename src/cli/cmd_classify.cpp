// binscan classify: top-k labels for photos, as transformers' image-classification pipeline (and
// the Hugging Face Inference API) gives them, computed locally from a checkpoint directory.
//
// Structure: ClassifyOptions holds every flag; open_classifier() turns them into a Classifier;
// collect_images() expands the arguments; the photo pipeline (pipeline/run.h) decodes, prepares
// and runs them, and a sink prints each result (PrintSink: a text table or JSON Lines) or the
// local/remote comparison (CompareSink). Per-image failures are reported and skipped.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/backend_compare.h"
#include "analysis/verdict.h"
#include "classify/classifier.h"
#include "classify/local_classifier.h"
#include "classify/remote_classifier.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "hub/hub.h"
#include "image/decode.h"
#include "pipeline/inputs.h"
#include "pipeline/run.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

namespace fs = std::filesystem;

struct ClassifyOptions {
  ModelFlags model;                 // --model (directory or Hub id), Hub and Inference API flags
  std::vector<std::string> inputs;  // images and folders
  int top_k = 5;
  bool top_k_given = false;  // a zero-shot model otherwise lists every candidate label
  int batch = 8;
  std::string format = "text";  // text | jsonl
  bool compare_remote = false;
  int jobs = 4;                         // remote requests in flight
  TileGrid tiles;                       // --tiles
  std::vector<std::string> bin_labels;  // --bin-label: what the best tile is chosen by
  double threshold = kDefaultBinThreshold;
};

// With --tiles: the layout, and the tile that scores the bin labels highest.
struct TileReport {
  std::string layout;  // "3x2"
  std::size_t count = 0;
  TiledVerdict verdict;
  const TileRun* best = nullptr;
};

std::unique_ptr<RemoteClassifier> open_remote_classifier(const ClassifyOptions& o) {
  const std::string& id = o.model.model();
  return open_remote_model(is_repo_id(id) ? id : "", o.model, o.jobs);
}

std::unique_ptr<LocalClassifier> open_local(const ClassifyOptions& o) {
  return open_local_model(o.model.model(), o.model, o.model.threads, o.batch);
}

std::unique_ptr<Classifier> open_classifier(const ClassifyOptions& o) {
  if (o.model.remote) return open_remote_classifier(o);
  return open_local(o);
}

// Files are taken as given (an unreadable or non-image file is an error for that file); folders
// contribute every file in them (recursively) whose content is an image binscan reads.
// Bad inputs are reported on stderr and set `failed`; so is finding no image at all.
std::vector<PhotoInput> collect_images(const std::vector<std::string>& inputs, bool& failed) {
  CollectOptions options;
  options.as_given = true;
  CollectedPhotos collected =
      collect_photos(std::vector<fs::path>(inputs.begin(), inputs.end()), options);
  for (const auto& folder : collected.empty_folders) {
    print_warning(folder + ": no images in this folder");
  }
  for (const auto& [path, cause] : collected.errors) print_error(format_error_line(path, cause));
  failed = !collected.errors.empty();
  if (collected.photos.empty()) {
    print_error("no images to classify");
    failed = true;
  }
  return std::move(collected.photos);
}

class ResultWriter {
 public:
  virtual ~ResultWriter() = default;
  virtual void write(const std::string& image, const ModelInfo& model, const Classification& c,
                     const TileReport* tiles) = 0;
};

nlohmann::ordered_json predictions_json(const Classification& c) {
  nlohmann::ordered_json preds = nlohmann::ordered_json::array();
  for (const auto& p : c.top) preds.push_back({{"label", p.label}, {"score", p.score}});
  return preds;
}

class JsonlWriter : public ResultWriter {
 public:
  void write(const std::string& image, const ModelInfo& model, const Classification& c,
             const TileReport* tiles) override {
    nlohmann::ordered_json line{
        {"image", image}, {"model", model.id}, {"predictions", predictions_json(c)}};
    if (tiles) {
      const TiledVerdict& v = tiles->verdict;
      nlohmann::ordered_json t{{"layout", tiles->layout},
                               {"count", tiles->count},
                               {"bin_score", v.best.score},
                               {"photo_bin_score", v.photo.score},
                               {"verdict", v.best.verdict}};
      if (tiles->best) {
        const TileBox& b = tiles->best->box;
        t["best"] = {{"box", {{"x", b.x}, {"y", b.y}, {"width", b.width}, {"height", b.height}}},
                     {"bin_score", v.tile->score},
                     {"predictions", predictions_json(*tiles->best->result)}};
      }
      line["tiles"] = std::move(t);
    }
    std::printf("%s\n",
                line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  }
};

// A readable table: the photo, then one row per label with a bar of its score.
class TextWriter : public ResultWriter {
 public:
  void write(const std::string& image, const ModelInfo&, const Classification& c,
             const TileReport* tiles) override {
    // Names and labels come from outside (file names, id2label, the API): control bytes are
    // shown escaped, never sent to the terminal.
    std::printf("%s%s\n", first_ ? "" : "\n", terminal_text(image).c_str());
    first_ = false;
    std::size_t width = 0;
    for (const auto& p : c.top) width = std::max(width, display_width(terminal_text(p.label)));
    width = std::min<std::size_t>(width, 48);
    for (const auto& p : c.top) {
      std::string label = terminal_text(p.label);
      if (display_width(label) > width) label = truncate(label, width);
      const std::size_t pad = width - display_width(label);
      std::printf("  %s%s  %s %6.2f%%\n", label.c_str(), std::string(pad, ' ').c_str(),
                  bar(p.score).c_str(), 100.0 * p.score);
    }
    if (tiles) {
      const TiledVerdict& v = tiles->verdict;
      std::printf("  tiles %s: bin score %.2f%% (whole photo %.2f%%)%s\n", tiles->layout.c_str(),
                  100.0 * v.best.score, 100.0 * v.photo.score,
                  v.best.verdict ? ": a bin" : ": no bin");
      if (tiles->best) {
        const TileBox& b = tiles->best->box;
        const auto& top = tiles->best->result->top;
        std::printf("  best tile x=%d y=%d %dx%d: bin score %.2f%%, top-1 %s %.2f%%\n", b.x, b.y,
                    b.width, b.height, 100.0 * v.tile->score,
                    top.empty() ? "-" : terminal_text(top.front().label).c_str(),
                    top.empty() ? 0.0 : 100.0 * top.front().score);
      }
    }
    std::fflush(stdout);
  }

 private:
  static constexpr int kBarCells = 24;

  // Code points, for aligning labels (UTF-8 continuation bytes take no column).
  static std::size_t display_width(const std::string& s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
  }
  static std::string truncate(const std::string& s, std::size_t cols) {
    std::string out;
    std::size_t n = 0;
    for (char ch : s) {
      if ((ch & 0xC0) != 0x80 && ++n > cols - 1) break;
      out += ch;
    }
    return out + "\u2026";
  }
  // Eighth-block characters give the bar 8 steps per cell.
  static std::string bar(double score) {
    static const char* const kEighths[] = {"",       "\u258f", "\u258e", "\u258d",
                                           "\u258c", "\u258b", "\u258a", "\u2589"};
    const double clamped = std::clamp(std::isnan(score) ? 0.0 : score, 0.0, 1.0);
    const int eighths = static_cast<int>(std::lround(clamped * kBarCells * 8));
    std::string s;
    for (int i = 0; i < eighths / 8; ++i) s += "\u2588";
    s += kEighths[eighths % 8];
    const int used = eighths / 8 + (eighths % 8 ? 1 : 0);
    s += std::string(static_cast<std::size_t>(kBarCells - used), ' ');
    return s;
  }
  bool first_ = true;
};

// A photo's own message line: the Error names it unless it has no subject.
std::string error_line(const std::string& name, const Error& e) {
  return e.subject().empty() ? format_error_line(name, e.cause()) : std::string(e.what());
}

// Prints what the pipeline could not run, and the decoder's warnings; sets `failed`.
void report_unrun(const PhotoItem& item, bool& failed) {
  if (item.error) {
    print_error(item.error->what());
    failed = true;
    return;
  }
  for (const auto& run : item.runs) {
    if (run.error) {
      print_error(error_line(item.input.name, *run.error));
      failed = true;
      return;
    }
  }
}

void report_warnings(const PhotoItem& item) {
  if (!item.decoded) return;
  for (const auto& w : item.decoded->warnings) print_warning(item.input.name + ": " + w);
}

// classify: each photo's result printed as it comes, in the order given.
class PrintSink : public PhotoSink {
 public:
  PrintSink(const Classifier& model, ResultWriter& writer, BinLabels bins, double threshold)
      : model_(model), writer_(writer), bins_(std::move(bins)), threshold_(threshold) {}
  void finish(PhotoItem& item) override {
    report_warnings(item);
    report_unrun(item, failed_);
  }
  void finish_batch(std::span<PhotoItem> items) override {
    for (auto& item : items) report_warnings(item);
    for (auto& item : items) {
      const ModelRun& run = item.runs.front();
      if (run.result && run.tile_cols * run.tile_rows > 1) {
        TileReport tiles;
        tiles.layout = layout_spec(run.tile_cols, run.tile_rows);
        tiles.count = run.tiles.size();
        tiles.verdict = judge_tiles(*run.result, run.tiles, bins_, threshold_);
        if (tiles.verdict.best_tile) tiles.best = &run.tiles[*tiles.verdict.best_tile];
        writer_.write(item.input.name, model_.info(), *run.result, &tiles);
      } else if (run.result) {
        writer_.write(item.input.name, model_.info(), *run.result, nullptr);
      } else {
        print_error(format_error_line(item.input.name, run.error->cause()));
        failed_ = true;
      }
    }
  }
  bool failed() const { return failed_; }

 private:
  const Classifier& model_;
  ResultWriter& writer_;
  BinLabels bins_;
  double threshold_;
  bool failed_ = false;
};

std::string cell(const Prediction* p) {
  if (!p) return std::string(42, ' ');
  std::string label = terminal_text(p->label);
  if (label.size() > 32) label = label.substr(0, 31) + "~";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%-32s %7.3f%%  ", label.c_str(), 100.0 * p->score);
  return buf;
}

// --compare-remote: the local engine (model 0) and the Inference API (model 1) on the same
// photos, side by side, and the largest differences over all of them.
class CompareSink : public PhotoSink {
 public:
  CompareSink(const LocalClassifier& local, const RemoteClassifier& remote, bool jsonl)
      : local_(local), remote_(remote), jsonl_(jsonl) {
    local_name_ =
        local.info().id +
        (local.info().revision.empty() ? "" : " @ " + local.info().revision.substr(0, 12));
  }
  void finish(PhotoItem& item) override {
    report_warnings(item);
    report_unrun(item, failed_);
  }
  void finish_batch(std::span<PhotoItem> items) override {
    for (auto& item : items) report_warnings(item);
    for (auto& item : items) compare(item);
  }
  // The summary line over every photo compared (text output).
  void print_summary() const {
    if (jsonl_ || summary_.compared <= 1) return;
    std::printf(
        "\n%d images compared: largest score difference %.4g (%s); top-1 agrees on %d of %d\n",
        summary_.compared, summary_.worst, terminal_text(summary_.worst_where).c_str(),
        summary_.agree, summary_.compared);
  }
  bool failed() const { return failed_; }

 private:
  void compare(const PhotoItem& item) {
    const std::string& name = item.input.name;
    const ModelRun& lo = item.runs[0];
    const ModelRun& ro = item.runs[1];
    if (!lo.result || !ro.result) {
      if (!lo.result) print_error("local: " + format_error_line(name, lo.error->cause()));
      if (!ro.result) print_error("remote: " + format_error_line(name, ro.error->cause()));
      failed_ = true;
      return;
    }
    const Classification& l = *lo.result;
    const Classification& r = *ro.result;
    const ScoreDifference d = summary_.add(name, l, r, local_.info().labels);
    if (jsonl_) {
      const nlohmann::ordered_json line{{"image", name},
                                        {"model", local_.info().id},
                                        {"local", predictions_json(l)},
                                        {"remote", predictions_json(r)},
                                        {"max_abs_diff", d.max_abs},
                                        {"max_diff_label", d.label},
                                        {"top1_agrees", d.top1_agrees}};
      std::printf("%s\n",
                  line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::printf("%s%s\n", summary_.compared == 1 ? "" : "\n", terminal_text(name).c_str());
      std::printf("  %-42s  %s\n", terminal_text("local: " + local_name_).c_str(),
                  terminal_text("remote: " + remote_.url()).c_str());
      for (std::size_t row = 0; row < std::max(l.top.size(), r.top.size()); ++row) {
        std::string row_text = "  " + cell(row < l.top.size() ? &l.top[row] : nullptr) + "  " +
                               cell(row < r.top.size() ? &r.top[row] : nullptr);
        row_text.erase(row_text.find_last_not_of(' ') + 1);
        std::printf("%s\n", row_text.c_str());
      }
      std::printf("  largest score difference %.4g (%s); top-1 %s\n", d.max_abs,
                  terminal_text(d.label).c_str(), d.top1_agrees ? "agrees" : "DIFFERS");
    }
    std::fflush(stdout);
  }

  const LocalClassifier& local_;
  const RemoteClassifier& remote_;
  bool jsonl_;
  std::string local_name_;
  BackendComparison summary_;
  bool failed_ = false;
};

PipelineOptions pipeline_options(const ClassifyOptions& o, bool remote) {
  PipelineOptions po;
  // Remote requests of a batch run concurrently: a batch must hold at least --jobs of them.
  po.batch = remote ? std::max(o.batch, o.jobs) : o.batch;
  po.workers = resolve_thread_count(o.model.threads);
  po.top_k = o.top_k;
  po.fast_decode = o.model.fast_decode;
  po.tiles = o.tiles;
  return po;
}

// --compare-remote: the local engine and the Inference API on the same photos, side by side.
int run_compare(const ClassifyOptions& o) {
  if (!is_repo_id(o.model.model()) && o.model.endpoint.empty()) {
    throw Error(ErrorKind::kConfig, o.model.model(),
                "--compare-remote needs a Hub model id such as google/vit-base-patch16-224 (or "
                "--endpoint URL for the remote side)");
  }
  bool failed = false;
  ListFeed feed(collect_images(o.inputs, failed));
  if (feed.size() == 0) return 1;
  auto local = open_local(o);
  auto remote = open_remote_classifier(o);
  CompareSink sink(*local, *remote, o.format == "jsonl");
  Classifier* const both[] = {local.get(), remote.get()};
  run_pipeline(feed, both, sink, pipeline_options(o, true));
  sink.print_summary();
  return failed || sink.failed() ? 1 : 0;
}

int run_classify(const ClassifyOptions& o) {
  if (o.top_k < 1) throw Error(ErrorKind::kConfig, "--top-k", "must be at least 1");
  if (o.batch < 1) throw Error(ErrorKind::kConfig, "--batch", "must be at least 1");
  if (o.jobs < 1) throw Error(ErrorKind::kConfig, "--jobs", "must be at least 1");
  if (o.model.remote && o.compare_remote) {
    throw Error(ErrorKind::kConfig, "--compare-remote", "runs both backends; leave out --remote");
  }
  if (o.compare_remote && o.tiles.enabled()) {
    throw Error(ErrorKind::kConfig, "--tiles", "is not available with --compare-remote");
  }
  if (o.compare_remote) return run_compare(o);

  bool failed = false;
  ListFeed feed(collect_images(o.inputs, failed));
  if (feed.size() == 0) return 1;

  auto classifier = open_classifier(o);
  std::unique_ptr<ResultWriter> writer;
  if (o.format == "jsonl") {
    writer = std::make_unique<JsonlWriter>();
  } else {
    writer = std::make_unique<TextWriter>();
  }
  BinLabels bins;
  if (o.tiles.enabled()) {
    bins = resolve_bin_labels(o.bin_labels, classifier->info());
    for (const auto& u : bins.unmatched_specs) {
      print_warning("--bin-label \"" + u + "\" matches none of the model's labels");
    }
  }
  PrintSink sink(*classifier, *writer, std::move(bins), o.threshold);
  Classifier* const one[] = {classifier.get()};
  PipelineOptions po = pipeline_options(o, o.model.remote);
  // The zero-shot pipeline answers with every candidate label, best first.
  if (classifier->info().zero_shot && !o.top_k_given)
    po.top_k = static_cast<int>(classifier->info().labels.size());
  run_pipeline(feed, one, sink, po);
  return failed || sink.failed() ? 1 : 0;
}

}  // namespace

void add_classify_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<ClassifyOptions>();
  auto* cmd = app.add_subcommand(
      "classify", "Top-k labels for photos, computed locally or by the Hugging Face Inference API");
  cmd->footer(
      "Runs a Hugging Face image classifier (ViTForImageClassification or\n"
      "ResNetForImageClassification, safetensors weights) on the CPU and prints what\n"
      "transformers' image-classification pipeline prints: softmax scores (sigmoid for\n"
      "multi-label or single-label models), the top K labels from id2label.\n"
      "\n"
      "A CLIP model (CLIPModel, e.g. openai/clip-vit-base-patch32) classifies zero-shot, as\n"
      "transformers' zero-shot-image-classification pipeline: against the candidate labels\n"
      "you give (--label, repeatable, or --labels-file), each put in --template, with softmax\n"
      "scores over them and every label listed (--top-k to cut). The labels' text embeddings\n"
      "are computed once. A label longer than CLIP's 77-token context is cut to it.\n"
      "\n"
      "IMAGE may be a file (JPEG, PNG or WebP, recognised by content) or a folder: every image\n"
      "in it, recursively. A file that cannot be read is reported and the others go on; the\n"
      "exit status is 1 when any failed.\n"
      "\n"
      "--format jsonl prints one line per image:\n"
      "  {\"image\": PATH, \"model\": MODEL, \"predictions\": [{\"label\": L, \"score\": S}, "
      "...]}\n"
      "where predictions has the shape of the Hugging Face Inference API's answer.\n"
      "\n"
      "MODEL is a directory or a Hugging Face model id (google/vit-base-patch16-224), found in\n"
      "the Hugging Face cache or downloaded into it (see `binscan download --help`; --revision\n"
      "picks a branch, tag or commit).\n"
      "\n"
      "--remote sends each photo's bytes to the Hugging Face Inference API instead (a token is\n"
      "needed: --token-file FILE, $HF_TOKEN or $HF_HOME/token, from\n"
      "https://huggingface.co/settings/tokens; never on the command line). Up to --jobs\n"
      "requests run at once; 503 'model is loading' is waited for, 429/5xx/timeouts are retried\n"
      "--retries times with backoff. --compare-remote runs both and shows them side by side with\n"
      "the largest score difference (jsonl: local, remote, max_abs_diff, max_diff_label,\n"
      "top1_agrees). With --label (a CLIP model id), --remote sends the API's zero-shot request,\n"
      "JSON {\"inputs\": base64, \"parameters\": {\"candidate_labels\": [...],\n"
      "\"hypothesis_template\": T}}, and checks that the answer's labels are the ones sent.\n"
      "\n"
      "--fast-decode and --precision bf16|int8|fast trade exactness for speed (a 12 MP JPEG\n"
      "decodes ~2.5x faster; bf16 runs the engine ~1.8x faster on AVX-512 BF16 CPUs; int8,\n"
      "after `binscan calibrate` (ResNet, ViT, CLIP's image tower), faster still with AVX-512\n"
      "VNNI); the defaults reproduce transformers. What they cost in accuracy is measured in the\n"
      "README (bench/fidelity/run.sh).\n"
      "\n"
      "--tiles GRID also classifies overlapping tiles of each photo and prints the bin score\n"
      "over the photo and its tiles and the best tile's box (jsonl: \"tiles\": {layout, count,\n"
      "bin_score, photo_bin_score, verdict, best: {box, bin_score, predictions}}); the bin\n"
      "labels are --bin-label's (default ImageNet class 412), the verdict --threshold's.\n"
      "\n"
      "Examples:\n"
      "  binscan classify --model ./vit-base-patch16-224 photos/ --top-k 3\n"
      "  binscan classify --model google/vit-base-patch16-224 photo.jpg\n"
      "  binscan classify --remote --model google/vit-base-patch16-224 photo.jpg\n"
      "  binscan classify --model microsoft/resnet-50 --compare-remote photos/\n"
      "  binscan classify --model microsoft/resnet-50 --fast-decode --precision fast photos/\n"
      "  binscan classify --model google/vit-base-patch16-224 --tiles 3x3 street.jpg\n"
      "  binscan classify --model openai/clip-vit-base-patch32 --label \"an underground waste\n"
      "      container\" --label \"a public litter bin\" --label \"a street with no bin\" photos/");
  ModelFlagsUse use;
  use.model_help =
      "Hugging Face model directory (config.json, preprocessor_config.json,\n"
      "model.safetensors or model.safetensors.index.json), or a model id";
  use.candidate_labels = true;
  add_model_flags(*cmd, opts->model, use);
  cmd->add_option("images", opts->inputs, "Photos or folders of photos")->required();
  cmd->add_option("--top-k,-k", opts->top_k, "Labels per image (capped at the model's labels)")
      ->capture_default_str();
  cmd->add_option("--batch,-b", opts->batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--format", opts->format, "Output: text (a table with bars) or jsonl")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->capture_default_str();
  cmd->add_flag("--compare-remote", opts->compare_remote,
                "Classify locally and with the Inference API, side by side, with the largest "
                "score difference");
  cmd->add_option("--jobs", opts->jobs, "Remote requests in flight at once")->capture_default_str();
  add_tiles_flag(*cmd, opts->tiles);
  cmd->add_option("--bin-label", opts->bin_labels,
                  "With --tiles: a label that counts as a trash bin (text or class id, repeatable; "
                  "default ImageNet class 412), by which the best tile is chosen");
  cmd->add_option("--threshold", opts->threshold,
                  "With --tiles: the bin score from which a photo counts as showing a bin")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->callback([opts, cmd, &run] {
    opts->top_k_given = cmd->count("--top-k") > 0;
    run = [opts] { return run_classify(*opts); };
  });
}

}  // namespace binscan::cli

// binscan classify: top-k labels for photos, as transformers' image-classification pipeline (and
// the Hugging Face Inference API) gives them, computed locally from a checkpoint directory.
//
// Structure, so more model sources can plug in: ClassifyOptions holds every flag;
// open_classifier() turns them into a Classifier; collect_images() expands the arguments;
// run_classify() decodes + prepares each batch on worker threads, runs it, and hands results to
// a ResultWriter (text table or JSON Lines). Per-image failures are reported and skipped.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "classify/classifier.h"
#include "classify/local_classifier.h"
#include "cli/commands.h"
#include "image/decode.h"
#include "survey/walk.h"
#include "util/error.h"
#include "util/file.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

namespace fs = std::filesystem;

struct ClassifyOptions {
  std::string model;                // --model: checkpoint directory
  std::vector<std::string> inputs;  // images and folders
  int top_k = 5;
  int threads = 0;  // 0: all cores
  int batch = 8;
  std::string format = "text";  // text | jsonl
};

std::unique_ptr<Classifier> open_classifier(const ClassifyOptions& o) {
  LocalOptions local;
  local.threads = o.threads;
  local.max_batch = o.batch;
  local.model_id = o.model;
  return open_local_classifier(o.model, local);
}

// One image to classify, named as the user will read it.
struct ImageJob {
  std::string name;  // the argument, or folder/relative/path for files found in a folder
  fs::path path;
};

// Files are taken as given (an unreadable or non-image file is an error for that file); folders
// contribute every file in them (recursively) whose content is an image binscan reads.
std::vector<ImageJob> collect_images(const std::vector<std::string>& inputs,
                                     std::vector<std::string>& errors) {
  std::vector<ImageJob> jobs;
  for (const auto& arg : inputs) {
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      jobs.push_back({arg, arg});
      continue;
    }
    const auto walked = walk_inputs({fs::path(arg)});
    for (const auto& [path, cause] : walked.errors)
      errors.push_back(format_error_line(path, cause));
    const fs::path root = absolute_normal(arg);
    std::size_t found = 0;
    for (const auto& f : walked.files) {
      try {
        if (!sniff_file(f.path)) continue;
      } catch (const Error& e) {
        errors.push_back(e.what());
        continue;
      }
      jobs.push_back(
          {(fs::path(arg) / fs::relative(f.path, root)).lexically_normal().string(), f.path});
      ++found;
    }
    if (found == 0) print_warning(arg + ": no images in this folder");
  }
  return jobs;
}

class ResultWriter {
 public:
  virtual ~ResultWriter() = default;
  virtual void write(const std::string& image, const ModelInfo& model, const Classification& c) = 0;
};

class JsonlWriter : public ResultWriter {
 public:
  void write(const std::string& image, const ModelInfo& model, const Classification& c) override {
    nlohmann::ordered_json preds = nlohmann::ordered_json::array();
    for (const auto& p : c.top) preds.push_back({{"label", p.label}, {"score", p.score}});
    const nlohmann::ordered_json line{
        {"image", image}, {"model", model.id}, {"predictions", preds}};
    std::printf("%s\n",
                line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
  }
};

// A readable table: the photo, then one row per label with a bar of its score.
class TextWriter : public ResultWriter {
 public:
  void write(const std::string& image, const ModelInfo&, const Classification& c) override {
    std::printf("%s%s\n", first_ ? "" : "\n", image.c_str());
    first_ = false;
    std::size_t width = 0;
    for (const auto& p : c.top) width = std::max(width, display_width(p.label));
    width = std::min<std::size_t>(width, 48);
    for (const auto& p : c.top) {
      std::string label = p.label;
      if (display_width(label) > width) label = truncate(label, width);
      const std::size_t pad = width - display_width(label);
      std::printf("  %s%s  %s %6.2f%%\n", label.c_str(), std::string(pad, ' ').c_str(),
                  bar(p.score).c_str(), 100.0 * p.score);
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

// What decoding + preprocessing one image gave.
struct Prepared {
  std::optional<PreparedInput> input;
  std::vector<std::string> warnings;  // e.g. malformed EXIF, ignored
  std::string error;                  // one line; empty on success
};

// Decodes and prepares jobs[begin, end) on up to `workers` threads (prepare() is thread-safe).
std::vector<Prepared> prepare_batch(const Classifier& classifier, const std::vector<ImageJob>& jobs,
                                    std::size_t begin, std::size_t end, int workers) {
  std::vector<Prepared> out(end - begin);
  std::atomic<std::size_t> next{begin};
  const auto work = [&] {
    for (std::size_t i = next++; i < end; i = next++) {
      const ImageJob& job = jobs[i];
      Prepared& p = out[i - begin];
      try {
        const auto bytes = read_file(job.path);
        const DecodedImage decoded = decode_image(bytes, job.name);
        for (const auto& w : decoded.warnings) p.warnings.push_back(job.name + ": " + w);
        p.input = classifier.prepare(ClassifyInput{job.name, bytes, &decoded});
      } catch (const Error& e) {
        p.error = e.what();
      } catch (const std::exception& e) {
        p.error = job.name + ": " + e.what();
      }
    }
  };
  const int n = std::max(1, std::min(workers, static_cast<int>(end - begin)));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

int run_classify(const ClassifyOptions& o) {
  if (o.top_k < 1) throw Error(ErrorKind::kConfig, "--top-k", "must be at least 1");
  if (o.batch < 1) throw Error(ErrorKind::kConfig, "--batch", "must be at least 1");
  if (o.threads < 0) throw Error(ErrorKind::kConfig, "--threads", "must be 0 (all cores) or more");

  std::vector<std::string> input_errors;
  const std::vector<ImageJob> jobs = collect_images(o.inputs, input_errors);
  for (const auto& e : input_errors) print_error(e);
  bool failed = !input_errors.empty();
  if (jobs.empty()) {
    print_error("no images to classify");
    return 1;
  }

  auto classifier = open_classifier(o);
  std::unique_ptr<ResultWriter> writer;
  if (o.format == "jsonl") {
    writer = std::make_unique<JsonlWriter>();
  } else {
    writer = std::make_unique<TextWriter>();
  }

  const int workers = resolve_thread_count(o.threads);
  const auto batch = static_cast<std::size_t>(o.batch);
  for (std::size_t begin = 0; begin < jobs.size(); begin += batch) {
    const std::size_t end = std::min(jobs.size(), begin + batch);
    auto prepared = prepare_batch(*classifier, jobs, begin, end, workers);
    std::vector<PreparedInput> ready;
    std::vector<std::size_t> ready_index;
    for (std::size_t i = begin; i < end; ++i) {
      Prepared& p = prepared[i - begin];
      for (const auto& w : p.warnings) print_warning(w);
      if (!p.error.empty()) {
        print_error(p.error);
        failed = true;
      } else if (p.input) {
        ready.push_back(std::move(*p.input));
        ready_index.push_back(i);
      }
    }
    if (ready.empty()) continue;
    std::vector<Classification> results;
    try {
      results = classifier->run(ready, o.top_k);
    } catch (const Error& e) {
      // The whole batch failed: name each of its images, then go on with the next batch.
      for (std::size_t i : ready_index) print_error(format_error_line(jobs[i].name, e.cause()));
      failed = true;
      continue;
    }
    for (std::size_t r = 0; r < results.size(); ++r)
      writer->write(jobs[ready_index[r]].name, classifier->info(), results[r]);
  }
  return failed ? 1 : 0;
}

}  // namespace

void add_classify_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<ClassifyOptions>();
  auto* cmd = app.add_subcommand("classify", "Top-k labels for photos, computed locally");
  cmd->footer(
      "Runs a Hugging Face image classifier (ViTForImageClassification or\n"
      "ResNetForImageClassification, safetensors weights) on the CPU and prints what\n"
      "transformers' image-classification pipeline prints: softmax scores (sigmoid for\n"
      "multi-label or single-label models), the top K labels from id2label.\n"
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
      "Example:\n"
      "  binscan classify --model ./vit-base-patch16-224 photos/ --top-k 3");
  cmd->add_option("--model,-m", opts->model,
                  "Hugging Face model directory (config.json, preprocessor_config.json,\n"
                  "model.safetensors or model.safetensors.index.json)")
      ->required();
  cmd->add_option("images", opts->inputs, "Photos or folders of photos")->required();
  cmd->add_option("--top-k,-k", opts->top_k, "Labels per image (capped at the model's labels)")
      ->capture_default_str();
  cmd->add_option("--threads,-j", opts->threads, "CPU threads (0: all cores)")
      ->capture_default_str();
  cmd->add_option("--batch,-b", opts->batch, "Images per forward pass")->capture_default_str();
  cmd->add_option("--format", opts->format, "Output: text (a table with bars) or jsonl")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->capture_default_str();
  cmd->callback([opts, &run] { run = [opts] { return run_classify(*opts); }; });
}

}  // namespace binscan::cli

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

#include "analysis/backend_compare.h"
#include "classify/classifier.h"
#include "classify/local_classifier.h"
#include "classify/remote_classifier.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "hub/hub.h"
#include "image/decode.h"
#include "pipeline/photo.h"
#include "pipeline/walk.h"
#include "util/error.h"
#include "util/file.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

namespace fs = std::filesystem;

struct ClassifyOptions {
  ModelFlags model;                 // --model (directory or Hub id), Hub and Inference API flags
  std::vector<std::string> inputs;  // images and folders
  int top_k = 5;
  int batch = 8;
  std::string format = "text";  // text | jsonl
  bool compare_remote = false;
  int jobs = 4;  // remote requests in flight
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

// One image to classify, named as the user will read it.
struct ImageJob {
  std::string name;  // the argument, or folder/relative/path for files found in a folder
  fs::path path;
};

// Files are taken as given (an unreadable or non-image file is an error for that file); folders
// contribute every file in them (recursively) whose content is an image binscan reads.
// Bad inputs are reported on stderr and set `failed`; so is finding no image at all.
std::vector<ImageJob> collect_images(const std::vector<std::string>& inputs, bool& failed) {
  std::vector<std::string> errors;
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
  for (const auto& e : errors) print_error(e);
  failed = !errors.empty();
  if (jobs.empty()) {
    print_error("no images to classify");
    failed = true;
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
  std::vector<PreparedInput> inputs;  // one per model, when every model's input is ready
  std::vector<std::string> warnings;  // e.g. malformed EXIF, ignored
  std::string error;                  // one line; empty on success
};

// Decodes each of jobs[begin, end) once and prepares it for every model, on up to `workers`
// threads (prepare() is thread-safe).
std::vector<Prepared> prepare_batch(std::span<const Classifier* const> models,
                                    const std::vector<ImageJob>& jobs, std::size_t begin,
                                    std::size_t end, int workers) {
  std::vector<Prepared> out(end - begin);
  std::atomic<std::size_t> next{begin};
  const auto work = [&] {
    for (std::size_t i = next++; i < end; i = next++) {
      const ImageJob& job = jobs[i];
      Prepared& p = out[i - begin];
      try {
        const auto bytes = read_file(job.path);
        PreparedPhoto photo = prepare_photo(bytes, job.name, models);
        if (photo.error) {
          p.error = photo.error->what();
          continue;
        }
        for (const auto& w : photo.decoded->warnings) p.warnings.push_back(job.name + ": " + w);
        for (auto& m : photo.models) {
          if (m.error) {
            p.error = m.error->subject().empty() ? format_error_line(job.name, m.error->cause())
                                                 : m.error->what();
            break;
          }
          p.inputs.push_back(std::move(*m.input));
        }
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

// What a classifier made of one prepared image: a result or a one-line error.
struct Outcome {
  std::optional<Classification> result;
  std::string error;
};

// run() on a batch: each image's result, or its error as one line naming it.
std::vector<Outcome> run_each(Classifier& c, const std::vector<PreparedInput>& inputs,
                              const std::vector<std::string>& names, int top_k) {
  auto outcomes = c.run(inputs, top_k);
  std::vector<Outcome> out(inputs.size());
  for (std::size_t k = 0; k < out.size() && k < outcomes.size(); ++k) {
    if (outcomes[k].ok()) {
      out[k].result = std::move(outcomes[k].result);
    } else {
      out[k].error = format_error_line(names[k], outcomes[k].error->cause());
    }
  }
  return out;
}

nlohmann::ordered_json predictions_json(const Classification& c) {
  nlohmann::ordered_json preds = nlohmann::ordered_json::array();
  for (const auto& p : c.top) preds.push_back({{"label", p.label}, {"score", p.score}});
  return preds;
}

std::string cell(const Prediction* p) {
  if (!p) return std::string(42, ' ');
  std::string label = p->label.size() > 32 ? p->label.substr(0, 31) + "~" : p->label;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%-32s %7.3f%%  ", label.c_str(), 100.0 * p->score);
  return buf;
}

// --compare-remote: the local engine and the Inference API on the same photos, side by side.
int run_compare(const ClassifyOptions& o) {
  if (!is_repo_id(o.model.model()) && o.model.endpoint.empty()) {
    throw Error(ErrorKind::kConfig, o.model.model(),
                "--compare-remote needs a Hub model id such as google/vit-base-patch16-224 (or "
                "--endpoint URL for the remote side)");
  }
  bool failed = false;
  const std::vector<ImageJob> jobs = collect_images(o.inputs, failed);
  if (jobs.empty()) return 1;
  auto local = open_local(o);
  auto remote = open_remote_classifier(o);
  const auto& labels = local->info().labels;
  const std::string local_name =
      local->info().id +
      (local->info().revision.empty() ? "" : " @ " + local->info().revision.substr(0, 12));
  const auto remote_url = remote->url();

  const int workers = resolve_thread_count(o.model.threads);
  const auto batch = static_cast<std::size_t>(std::max(o.batch, o.jobs));
  BackendComparison summary;
  for (std::size_t begin = 0; begin < jobs.size(); begin += batch) {
    const std::size_t end = std::min(jobs.size(), begin + batch);
    const Classifier* both[] = {local.get(), remote.get()};
    auto prepared = prepare_batch(both, jobs, begin, end, workers);
    std::vector<PreparedInput> in_local;
    std::vector<PreparedInput> in_remote;
    std::vector<std::string> names;
    for (std::size_t i = begin; i < end; ++i) {
      auto& p = prepared[i - begin];
      for (const auto& w : p.warnings) print_warning(w);
      if (!p.error.empty()) {
        print_error(p.error);
        failed = true;
      } else {
        in_local.push_back(std::move(p.inputs[0]));
        in_remote.push_back(std::move(p.inputs[1]));
        names.push_back(jobs[i].name);
      }
    }
    if (names.empty()) continue;
    const auto lo = run_each(*local, in_local, names, o.top_k);
    const auto ro = run_each(*remote, in_remote, names, o.top_k);
    for (std::size_t k = 0; k < names.size(); ++k) {
      if (!lo[k].error.empty() || !ro[k].error.empty()) {
        if (!lo[k].error.empty()) print_error("local: " + lo[k].error);
        if (!ro[k].error.empty()) print_error("remote: " + ro[k].error);
        failed = true;
        continue;
      }
      const Classification& l = *lo[k].result;
      const Classification& r = *ro[k].result;
      const ScoreDifference d = summary.add(names[k], l, r, labels);
      if (o.format == "jsonl") {
        const nlohmann::ordered_json line{{"image", names[k]},
                                          {"model", local->info().id},
                                          {"local", predictions_json(l)},
                                          {"remote", predictions_json(r)},
                                          {"max_abs_diff", d.max_abs},
                                          {"max_diff_label", d.label},
                                          {"top1_agrees", d.top1_agrees}};
        std::printf("%s\n",
                    line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else {
        std::printf("%s%s\n", summary.compared == 1 ? "" : "\n", names[k].c_str());
        std::printf("  %-42s  %s\n", ("local: " + local_name).c_str(),
                    ("remote: " + remote_url).c_str());
        for (std::size_t row = 0; row < std::max(l.top.size(), r.top.size()); ++row) {
          std::string row_text = "  " + cell(row < l.top.size() ? &l.top[row] : nullptr) + "  " +
                                 cell(row < r.top.size() ? &r.top[row] : nullptr);
          row_text.erase(row_text.find_last_not_of(' ') + 1);
          std::printf("%s\n", row_text.c_str());
        }
        std::printf("  largest score difference %.4g (%s); top-1 %s\n", d.max_abs, d.label.c_str(),
                    d.top1_agrees ? "agrees" : "DIFFERS");
      }
      std::fflush(stdout);
    }
  }
  if (o.format != "jsonl" && summary.compared > 1) {
    std::printf(
        "\n%d images compared: largest score difference %.4g (%s); top-1 agrees on %d of %d\n",
        summary.compared, summary.worst, summary.worst_where.c_str(), summary.agree,
        summary.compared);
  }
  return failed ? 1 : 0;
}

int run_classify(const ClassifyOptions& o) {
  if (o.top_k < 1) throw Error(ErrorKind::kConfig, "--top-k", "must be at least 1");
  if (o.batch < 1) throw Error(ErrorKind::kConfig, "--batch", "must be at least 1");
  if (o.jobs < 1) throw Error(ErrorKind::kConfig, "--jobs", "must be at least 1");
  if (o.model.remote && o.compare_remote) {
    throw Error(ErrorKind::kConfig, "--compare-remote", "runs both backends; leave out --remote");
  }
  if (o.compare_remote) return run_compare(o);

  bool failed = false;
  const std::vector<ImageJob> jobs = collect_images(o.inputs, failed);
  if (jobs.empty()) return 1;

  auto classifier = open_classifier(o);
  std::unique_ptr<ResultWriter> writer;
  if (o.format == "jsonl") {
    writer = std::make_unique<JsonlWriter>();
  } else {
    writer = std::make_unique<TextWriter>();
  }

  const int workers = resolve_thread_count(o.model.threads);
  // Remote requests of a batch run concurrently: a batch must hold at least --jobs of them.
  const auto batch = static_cast<std::size_t>(o.model.remote ? std::max(o.batch, o.jobs) : o.batch);
  for (std::size_t begin = 0; begin < jobs.size(); begin += batch) {
    const std::size_t end = std::min(jobs.size(), begin + batch);
    const Classifier* one[] = {classifier.get()};
    auto prepared = prepare_batch(one, jobs, begin, end, workers);
    std::vector<PreparedInput> ready;
    std::vector<std::size_t> ready_index;
    for (std::size_t i = begin; i < end; ++i) {
      Prepared& p = prepared[i - begin];
      for (const auto& w : p.warnings) print_warning(w);
      if (!p.error.empty()) {
        print_error(p.error);
        failed = true;
      } else {
        ready.push_back(std::move(p.inputs[0]));
        ready_index.push_back(i);
      }
    }
    if (ready.empty()) continue;
    std::vector<std::string> names;
    for (const auto i : ready_index) names.push_back(jobs[i].name);
    const auto outcomes = run_each(*classifier, ready, names, o.top_k);
    for (std::size_t k = 0; k < outcomes.size(); ++k) {
      if (outcomes[k].result) {
        writer->write(names[k], classifier->info(), *outcomes[k].result);
      } else {
        print_error(outcomes[k].error);
        failed = true;
      }
    }
  }
  return failed ? 1 : 0;
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
      "top1_agrees).\n"
      "\n"
      "Examples:\n"
      "  binscan classify --model ./vit-base-patch16-224 photos/ --top-k 3\n"
      "  binscan classify --model google/vit-base-patch16-224 photo.jpg\n"
      "  binscan classify --remote --model google/vit-base-patch16-224 photo.jpg\n"
      "  binscan classify --model microsoft/resnet-50 --compare-remote photos/");
  ModelFlagsUse use;
  use.model_help =
      "Hugging Face model directory (config.json, preprocessor_config.json,\n"
      "model.safetensors or model.safetensors.index.json), or a model id";
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
  cmd->callback([opts, &run] { run = [opts] { return run_classify(*opts); }; });
}

}  // namespace binscan::cli

// binscan scan: survey folders of street photos for trash bins with one or more models, into the
// SQLite database that 'binscan compare' and 'binscan export' read.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "classify/classifier.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "store/scan.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/text.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

struct ScanCliOptions {
  std::vector<std::string> paths;
  ModelFlags model;  // --model (repeatable), Hub and Inference API flags, --threads
  std::string db = "binscan.db";
  int batch = 8;
  int top_k = 5;
  std::vector<std::string> bin_labels;
  double threshold = kDefaultBinThreshold;
  bool retry_failed = false;
  bool quiet = false;
  std::string format = "text";
  bool decode_only = false;
  int worker_nice = -1;  // -1: as the thread plan says
  std::string shard;     // "K/N"
  TileGrid tiles;        // --tiles
  int lease_s = 300;     // work queue: seconds a claimed batch stays this process's
  bool follow = false;   // work: keep waiting for new work
  bool work = false;     // binscan work: no paths, only the queue
  bool enqueue_only = false;
};

// "K/N" with 1 <= K <= N.
std::pair<int, int> parse_shard(const std::string& text) {
  int k = 0, n = 0;
  char slash = 0;
  std::istringstream in(text);
  if (!(in >> k >> slash >> n) || slash != '/' || !in.eof() || n < 1 || k < 1 || k > n) {
    throw Error(ErrorKind::kConfig, "--shard " + text,
                "expected K/N with 1 <= K <= N, e.g. 2/4 for the second of four machines");
  }
  return {k, n};
}

std::atomic<bool> g_stop{false};

// First Ctrl-C (or SIGTERM): finish the batch in flight, commit it and stop. The default action
// is restored, so a second Ctrl-C ends the process at once (the database stays consistent: an
// uncommitted transaction is simply not there).
extern "C" void on_stop_signal(int sig) {
  g_stop.store(true);
  std::signal(sig, SIG_DFL);
  static const char kMsg[] =
      "\nbinscan: stopping after the current batch (press Ctrl-C again to quit at once)\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
}

// How the threads were used, for the run's record and --format json: results do not depend on it,
// speed does (bench/scan).
nlohmann::json thread_plan_json(const PipelineThreads& t) {
  return {{"engine_threads", t.engine},
          {"engine_copies", t.replicas},
          {"decode_workers", t.workers},
          {"one_core", t.one_core}};
}

int run_scan_command(const ScanCliOptions& o) {
  if ((o.work || o.enqueue_only) && !is_postgres_location(o.db)) {
    throw Error(ErrorKind::kConfig, "--db " + o.db,
                "the work queue (work, scan --enqueue-only) is a PostgreSQL survey's: give a "
                "postgresql:// URI");
  }
  const std::pair<int, int> shard = o.shard.empty() ? std::pair{1, 1} : parse_shard(o.shard);
  const PipelineThreads threads =
      plan_pipeline_threads(resolve_thread_count(o.model.threads), o.batch);
  std::vector<std::unique_ptr<Classifier>> classifiers;
  std::vector<ScanModel> models;
  const std::vector<std::string> candidates = candidate_labels(o.model);
  for (const auto& spec : o.model.models) {
    // A CLIP model's label text embeddings are computed here, once, for every photo.
    classifiers.push_back(
        open_scan_model(spec, o.model, threads.engine, o.batch, !o.quiet, threads.replicas));
    ScanModel m;
    m.classifier = classifiers.back().get();
    m.key = model_key_for(m.classifier->info());
    const bool several = o.model.models.size() > 1;
    m.bins = resolve_bin_labels(
        several ? bin_specs_for(m.classifier->info(), o.bin_labels, candidates) : o.bin_labels,
        m.classifier->info());
    for (const auto& u : m.bins.unmatched_specs) {
      print_warning(m.key.display() + ": --bin-label \"" + u + "\" matches none of its labels");
    }
    models.push_back(std::move(m));
  }

  ScanOptions so;
  so.pipeline.batch = o.batch;
  so.pipeline.workers = threads.workers;
  so.pipeline.worker_nice = o.worker_nice >= 0 ? o.worker_nice : threads.worker_nice;
  so.pipeline.one_core = threads.one_core;
  so.pipeline.top_k = o.top_k;
  so.threshold = o.threshold;
  so.retry_failed = o.retry_failed;
  so.show_progress = !o.quiet;
  so.pipeline.run_models = !o.decode_only;
  so.pipeline.fast_decode = o.model.fast_decode;
  so.pipeline.tiles = o.tiles;
  so.pipeline.stop = &g_stop;
  std::tie(so.shard, so.shards) = shard;
  so.lease = std::chrono::seconds(o.lease_s);
  so.follow = o.follow;
  so.enqueue_only = o.enqueue_only;
  so.note = [&](const std::string& path, NoteSeverity severity, const std::string& note) {
    if (severity == NoteSeverity::kInfo) {
      if (!o.quiet) std::fprintf(stderr, "binscan: %s: %s\n", path.c_str(), note.c_str());
    } else {
      print_warning(path + ": " + note);
    }
  };

  std::unique_ptr<Store> store;
  std::int64_t run_id = 0;
  if (!o.decode_only) {
    store = open_store(o.db);
    nlohmann::json args{{"paths", o.paths},
                        {"models", o.model.models},
                        {"remote", o.model.remote},
                        {"batch", o.batch},
                        {"threads", o.model.threads},
                        {"thread_plan", thread_plan_json(threads)},
                        {"top_k", o.top_k},
                        {"bin_labels", o.bin_labels},
                        {"candidate_labels", candidates},
                        {"hypothesis_template", o.model.hypothesis_template},
                        {"threshold", o.threshold},
                        {"precision", o.model.precision},
                        {"fast_decode", o.model.fast_decode},
                        {"tiles", o.tiles.spec()},
                        {"command", o.work ? "work" : "scan"}};
    run_id = store->begin_run(json_text(args));  // a path need not be UTF-8
  }
  g_stop = false;
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::vector<std::filesystem::path> inputs(o.paths.begin(), o.paths.end());
  ScanSummary summary;
  try {
    summary = run_scan(store.get(), inputs, models, so);
  } catch (...) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (store) store->end_run(run_id, "error", "{}");
    throw;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  const std::string status(status_name(summary.status()));
  if (store) store->end_run(run_id, status, json_text(summary.to_json()));
  // With a work queue the summary is this process's share; the queue says where the survey is.
  std::optional<QueueStatus> queue;
  if (store && store->work_queue()) queue = store->work_queue()->queue_status();
  if (o.format == "json") {
    auto j = summary.to_json();
    j["database"] = redacted_location(o.db);
    j["status"] = status;
    j["thread_plan"] = thread_plan_json(threads);
    if (queue) j["queue"] = queue->to_json();
    std::printf("%s\n", json_text(j).c_str());
  } else {
    if (queue) std::printf("survey: %s\n", queue->line().c_str());
    std::printf("%s\n", summary.line().c_str());
    if (o.decode_only && summary.seconds > 0) {
      std::printf("decode+preprocess: %.2f photos/s\n", summary.images / summary.seconds);
    }
  }
  std::fflush(stdout);
  if (summary.interrupted) return 130;
  return summary.complete() ? 0 : 1;
}

// The flags scan and work share: models, --db, batch, labels, threshold, output.
void add_shared_flags(CLI::App* cmd, const std::shared_ptr<ScanCliOptions>& o);

}  // namespace

void add_scan_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<ScanCliOptions>();
  auto* cmd = app.add_subcommand(
      "scan",
      "Survey folders of photos for trash bins with one or more models. Walks PATHs "
      "recursively, takes JPEG/PNG/WebP files by content, classifies each photo once per model "
      "and stores everything in an SQLite database. Re-running skips what is done (by content "
      "hash, so renamed files are recognised); Ctrl-C stops after the current batch.\n"
      "Exit status: 0 when every photo was classified by every model, 1 when something failed "
      "or is pending, 130 when interrupted. The last line on stdout says which.\n"
      "Each result records how it was made: decode_scale (1 exact, 2/4/8 with --fast-decode) "
      "and precision (fp32, bf16, int8), and with --tiles the layout and the best tile. A photo "
      "with a "
      "stored result for a model is not classified again, whatever options made that result "
      "(scan into a new --db to compare options).\n"
      "A CLIP model (e.g. openai/clip-vit-base-patch32) scans zero-shot against the candidate "
      "labels of --label (repeatable; commas stay inside a label) or --labels-file, each put in "
      "--template; their text embeddings are computed once for the whole scan, and a ViT or "
      "ResNet given beside it ignores them. Its bin score sums the --bin-label labels among the "
      "candidates (default: those that are not a \"no bin\" description). The survey keeps the "
      "label set and template with each result: the same CLIP model scanned again with other "
      "labels is another model run, stored beside the first (compare them with 'binscan "
      "compare'), never mixed with it or replacing it.\n"
      "Example: binscan scan photos/ -m microsoft/resnet-50 -m openai/clip-vit-base-patch32 "
      "--label \"a public litter bin\" --label \"a street with no bin\"");
  cmd->add_option("paths", o->paths, "Photos or folders")->required();
  add_shared_flags(cmd, o);
  cmd->add_option("--shard", o->shard,
                  "K/N: take only the K-th of N shares of the photos (by a hash of each file's "
                  "path below its folder argument), so N machines can scan one collection into "
                  "their own databases; 'binscan merge' then joins them");
  cmd->add_flag("--enqueue-only", o->enqueue_only,
                "With a postgresql:// --db: queue the photos and leave them to 'binscan work' "
                "(without it, scan queues them and works on the queue too)");
  cmd->add_flag("--decode-only", o->decode_only,
                "Benchmark: decode and preprocess only (no inference, nothing stored)")
      ->group("");
  cmd->add_option("--worker-nice", o->worker_nice,
                  "Benchmark: nice value of the decode workers (default: the thread plan's)")
      ->check(CLI::Range(0, 19))
      ->group("");
  cmd->callback([&run, o] { run = [o] { return run_scan_command(*o); }; });
}

void add_work_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<ScanCliOptions>();
  o->work = true;
  o->db.clear();
  auto* cmd = app.add_subcommand(
      "work",
      "Take photos from the work queue of a PostgreSQL survey and classify them: as many "
      "workers as you like, on any machines that see the photos at the same paths (a shared "
      "mount). 'binscan scan PATHS --db postgresql://...' queues the photos (and works too).\n"
      "Each worker claims a batch under a lease; results and the batch's done mark commit in one "
      "transaction. A worker killed mid-batch loses only that batch: another takes it once the "
      "lease runs out. Every photo is classified once per model however many workers run. The "
      "worker ends when nothing is pending and no other worker holds a lease (--follow: waits "
      "for new work until stopped). Progress: 'binscan status --db URI'.");
  add_shared_flags(cmd, o);
  cmd->get_option("--db")->required();
  cmd->add_flag("--follow", o->follow, "Keep waiting for new work (a daily stream) until stopped");
  cmd->callback([&run, o] { run = [o] { return run_scan_command(*o); }; });
}

namespace {

void add_shared_flags(CLI::App* cmd, const std::shared_ptr<ScanCliOptions>& o) {
  ModelFlagsUse use;
  use.several = true;
  use.model_help =
      "Model directory or Hugging Face id; repeat for several models. Prefix with "
      "remote: to use the Inference API for this one only";
  use.remote_help =
      "Classify with the Hugging Face Inference API instead of locally (needs a token: "
      "HF_TOKEN or --token-file)";
  use.threads_help =
      "Threads for the whole pipeline (engine and decoders are sized together: N threads "
      "run copies of the engine side by side, 2 on 2 cores; 1 keeps the process on one core; "
      "default: all cores)";
  use.candidate_labels = true;
  add_model_flags(*cmd, o->model, use);
  add_tiles_flag(*cmd, o->tiles);
  cmd->add_option("--db", o->db,
                  "Where the results go: an SQLite file, or a postgresql:// URI (libpq; the PG* "
                  "variables and ~/.pgpass fill in the rest) shared by many workers")
      ->capture_default_str();
  cmd->add_option("--batch,-b", o->batch, "Photos per model run and per database transaction")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--top-k", o->top_k, "Predictions stored per photo and model")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--bin-label", o->bin_labels,
                  "A label that counts as a trash bin, by text or class id; repeatable, replaces "
                  "the default set. 'default' is ImageNet class 412 \"ashcan, trash can, garbage "
                  "can, wastebin, ...\"; a synonym matches too (\"trash can\"). E.g. --bin-label "
                  "default --bin-label \"bucket, pail\", or a fine-tuned model's own labels. For a "
                  "CLIP model: one of its --label texts; its default is every candidate label "
                  "that is not a \"no bin\" description (no, not, without, ...). With several "
                  "models, a CLIP model takes the specs naming its candidate labels and the "
                  "others take the rest");
  cmd->add_option(
         "--threshold", o->threshold,
         "Bin score (sum of the bin labels' probabilities) from which a photo counts as showing "
         "a bin. The default 0.1 is 100x the 1/1000 an ImageNet model gives a class by chance, "
         "and about where students reading the Hugging Face widget's top-5 bars say \"it sees "
         "the bin\"; cluttered street scenes rarely give a bin a majority, so 0.5 would miss most. "
         "The rank of the bin label is stored too, for a top-1 or top-5 reading")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--lease", o->lease_s,
                  "Work queue (PostgreSQL): seconds a claimed batch stays this worker's; a "
                  "worker that dies loses it to another after this long")
      ->capture_default_str()
      ->check(CLI::Range(1, 86400));
  cmd->add_flag("--retry-failed", o->retry_failed,
                "Decode again photos stored as undecodable by an earlier run");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress bar or notes about skipped files");
  cmd->add_option("--format", o->format, "Summary as text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

}  // namespace

}  // namespace binscan::cli

// binscan serve: a local, private stand-in for the Hugging Face Inference API — the same URLs,
// request bodies and JSON answers, so existing scripts and clients work unchanged when pointed
// at it — and a web page to drop photos on. Models are loaded once; requests from every client
// are batched through the photo pipeline (serve/service.h); SIGINT/SIGTERM answer what is in
// flight, then exit 0.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "analysis/compare.h"
#include "analysis/locate.h"
#include "analysis/verdict.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "cli/survey_pages.h"
#include "serve/api.h"
#include "serve/server.h"
#include "serve/service.h"
#include "store/store.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/file.h"
#include "util/tensor.h"
#include "util/text.h"
#include "util/threads.h"

namespace binscan::cli {
namespace {

struct ServeOptions {
  ModelFlags model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int batch = 8;
  int queue = 64;
  int linger_ms = 5;
  int http_threads = 16;
  int io_timeout_s = 30;
  double max_body_mb = 50;
  std::string token_file;
  bool insecure_no_token = false;
  std::string db;
  std::vector<std::string> bin_labels;
  double threshold = kDefaultBinThreshold;
  bool quiet = false;
};

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::optional<std::string> read_api_token(const ServeOptions& o) {
  if (o.token_file.empty()) return std::nullopt;
  const std::string token = trim(read_text_file(o.token_file));
  if (token.empty()) throw Error(ErrorKind::kConfig, o.token_file, "the token file is empty");
  if (token.find_first_of(" \t\r\n") != std::string::npos) {
    throw Error(ErrorKind::kConfig, o.token_file, "the token must be one word on one line");
  }
  return token;
}

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that only the
// waiter below receives them (sigtimedwait) instead of an arbitrary engine or HTTP thread.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int run_serve(const ServeOptions& o) {
  if (!is_loopback(o.host) && o.token_file.empty() && !o.insecure_no_token) {
    throw Error(ErrorKind::kConfig, "--host " + o.host,
                "serves everyone who can reach this machine: give --token-file FILE (clients "
                "then send \"Authorization: Bearer TOKEN\"), or --insecure-no-token");
  }
  const std::optional<std::string> token = read_api_token(o);
  const sigset_t stop_signals = block_stop_signals();
  // A server allocates and frees request bodies and images on many threads for as long as it
  // runs: with glibc's default of up to 8 arenas per core, freed memory spreads over arenas and
  // RSS creeps up; two arenas keep it flat (measured: 10,000 requests, tests/cli/serve_e2e_test).
  mallopt(M_ARENA_MAX, 2);

  const int threads = resolve_thread_count(o.model.threads);
  std::vector<std::unique_ptr<LocalClassifier>> loaded;
  std::vector<serve::ServedModel> served;
  for (const auto& name : o.model.models) {
    // A CLIP model opens without labels: each request brings its candidate_labels.
    auto classifier = open_local_model(name, o.model, o.model.threads, o.batch, true, false,
                                       /*labels_per_use=*/true);
    serve::ServedModel m;
    m.classifier = classifier.get();
    m.name = serve::served_name(classifier->info());
    for (const auto& other : served) {
      if (other.name == m.name) {
        throw Error(ErrorKind::kConfig, name,
                    "two models would be served as /models/" + m.name + "; give each once");
      }
    }
    m.image_mean = classifier->processor().config().image_mean;
    m.image_std = classifier->processor().config().image_std;
    served.push_back(std::move(m));
    loaded.push_back(std::move(classifier));
  }
  // Beside a CLIP model, the --bin-label specs are split as scan splits them: the CLIP model takes
  // those naming one of a request's candidate labels, the classifiers the rest.
  const bool shared =
      loaded.size() > 1 &&
      std::any_of(loaded.begin(), loaded.end(), [](const auto& c) { return c->info().zero_shot; });
  for (std::size_t i = 0; i < served.size(); ++i) {
    serve::ServedModel& m = served[i];
    LocalClassifier& classifier = *loaded[i];
    if (classifier.info().zero_shot) {
      m.zero_shot = &classifier;
      m.bin_label_specs = o.bin_labels;  // resolved against each request's labels
      m.bin_specs_shared = shared;
      continue;
    }
    const std::vector<std::string> specs =
        shared ? bin_specs_for(classifier.info(), o.bin_labels, std::nullopt) : o.bin_labels;
    try {
      m.bins = resolve_bin_labels(specs, classifier.info());
    } catch (const Error& e) {
      // Asked for: a mistake. By default: a model that knows no trash bin is still served.
      if (!specs.empty()) throw;
      print_warning(m.name +
                    ": no trash-bin label (ImageNet 412) among its labels; served "
                    "without a bin verdict (choose one with --bin-label)");
    }
  }
  for (const auto& classifier : loaded) {
    // Every batch size once now, so the engine's primitives exist before the first request
    // (no slow first answers, and memory settles at once).
    std::fprintf(stderr, "binscan serve: warming up %s for batches of 1 to %d\n",
                 terminal_text(serve::served_name(classifier->info())).c_str(), o.batch);
    for (int n = 1; n <= o.batch && classifier->input_height() > 0; ++n) {
      classifier->forward(Tensor({n, 3, classifier->input_height(), classifier->input_width()}));
    }
  }

  serve::ServiceOptions so;
  so.batch = o.batch;
  so.workers = threads;
  so.max_pending = o.queue;
  so.linger = std::chrono::milliseconds(o.linger_ms);
  so.threshold = o.threshold;
  so.fast_decode = o.model.fast_decode;
  serve::InferenceService service(std::move(served), so);

  serve::ServerOptions sv;
  sv.host = o.host;
  sv.port = o.port;
  sv.token = token;
  sv.max_body_bytes = static_cast<std::size_t>(o.max_body_mb * 1024 * 1024);
  sv.http_threads = o.http_threads;
  sv.io_timeout = std::chrono::seconds(o.io_timeout_s);
  sv.log_requests = !o.quiet;
  if (!o.db.empty()) {
    // Opened for each request, read-only: the pages show the survey as it is now, even while a
    // scan is adding to it.
    if (!is_postgres_location(o.db) && !std::filesystem::exists(o.db)) {
      throw Error(ErrorKind::kConfig, o.db,
                  "no such survey database (write one with binscan scan)");
    }
    const std::string db = o.db;
    const std::string shown = redacted_location(db);  // the pages never show a password
    sv.survey_report = [db, shown] {
      const auto store = open_store(db, Store::Mode::kReadOnly);
      return survey_report_html(compare_models(*store, {}, std::nullopt), shown, 200);
    };
    sv.survey_map = [db, shown] {
      const auto store = open_store(db, Store::Mode::kReadOnly);
      return survey_map_html(locate_bins(compare_models(*store, {}, std::nullopt), {}), shown, 120);
    };
    sv.survey_name = shown;
  }
  serve::HttpServer server(service, sv);
  const int port = server.bind();

  const std::string base = "http://" +
                           (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) +
                           ":" + std::to_string(port);
  std::fprintf(stderr, "binscan serve: listening on %s\n", terminal_text(base).c_str());
  std::fprintf(stderr, "  page:   %s/\n", terminal_text(base).c_str());
  for (const auto& m : service.models()) {
    std::fprintf(stderr, "  model:  POST %s/models/%s\n", terminal_text(base).c_str(),
                 terminal_text(m.name).c_str());
  }
  if (!o.db.empty()) {
    std::fprintf(stderr, "  survey: %s/survey and %s/survey/map\n", terminal_text(base).c_str(),
                 terminal_text(base).c_str());
  }
  std::fprintf(stderr, "  %s; Ctrl-C stops (requests in flight are answered first)\n",
               token ? "clients must send \"Authorization: Bearer TOKEN\"" : "no token required");
  std::fflush(stderr);

  std::atomic<bool> done{false};
  std::thread waiter([&] {
    bool stopping = false;
    const timespec tick{0, 100'000'000};
    while (!done) {
      const int sig = sigtimedwait(&stop_signals, nullptr, &tick);
      if (sig > 0 && !stopping) {
        std::fprintf(stderr, "binscan serve: %s, answering the requests in flight\n",
                     sig == SIGINT ? "interrupted" : "terminated");
        stopping = true;
      }
      // Again on every tick: a stop that came before the server was listening is not lost.
      if (stopping) server.stop();
    }
  });
  server.run();
  done = true;
  waiter.join();
  service.close();
  std::fprintf(stderr, "binscan serve: stopped\n");
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve models over HTTP as a local Hugging Face Inference API, with a web page to drop "
      "photos on");
  cmd->footer(
      "Loads each --model once and answers, on this machine, what the Hugging Face Inference\n"
      "API answers for image classification, so scripts and clients work unchanged:\n"
      "  POST /models/ID  (or /hf-inference/models/ID)\n"
      "    body: the image's bytes, or JSON {\"inputs\": \"<base64>\", \"parameters\":\n"
      "          {\"top_k\": 5, \"function_to_apply\": \"softmax\"|\"sigmoid\"|\"none\"}}\n"
      "    answer: [{\"label\": \"...\", \"score\": 0.93}, ...] — the numbers binscan classify "
      "prints\n"
      "    errors: {\"error\": \"...\"} with 400 (not an image), 401 (token), 404 (model not\n"
      "            loaded), 413 (body over --max-body-mb), 503 + Retry-After (queue full)\n"
      "ID is the Hub id (google/vit-base-patch16-224) or a directory's last component.\n"
      "A CLIP model (openai/clip-vit-base-patch32) answers the zero-shot-image-classification\n"
      "contract instead: JSON {\"inputs\": \"<base64>\", \"parameters\": {\"candidate_labels\":\n"
      "[\"a public litter bin\", \"a street with no bin\"], \"hypothesis_template\": \"This is a\n"
      "photo of {}.\"}} -> every label with its score, best first, as binscan classify --label\n"
      "prints; 400 when candidate_labels is missing, empty or not a list of strings. Each label\n"
      "set's text embeddings are computed once and kept. The page asks for the labels.\n"
      "  GET /         a page: drop photos, see each model's top-5, bin verdict and input\n"
      "  GET /models   what is loaded;  GET /health   liveness\n"
      "  GET /survey, /survey/map   the --db survey's report and map, rendered live\n"
      "\n"
      "Requests for a model are batched (up to --batch, waiting at most --linger-ms for more);\n"
      "at most --queue wait at once. It listens on 127.0.0.1 only unless --host says otherwise;\n"
      "any other address needs --token-file (or --insecure-no-token).\n"
      "\n"
      "Examples:\n"
      "  binscan serve -m google/vit-base-patch16-224 -m microsoft/resnet-50\n"
      "  curl --data-binary @photo.jpg http://127.0.0.1:8080/models/google/vit-base-patch16-224\n"
      "  binscan serve -m ./vit --host 0.0.0.0 --token-file api-token.txt --db survey.db\n"
      "  binscan serve -m openai/clip-vit-base-patch32 -m microsoft/resnet-50");
  ModelFlagsUse use;
  use.several = true;
  use.remote = false;
  use.hub_token_flag = "--hub-token-file";
  use.model_help = "Model to serve: Hub id or directory (repeat for several)";
  use.threads_help = "CPU threads for the models and for decoding (0: all cores)";
  add_model_flags(*cmd, o->model, use);
  cmd->add_option("--host", o->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port,-p", o->port, "Port (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--batch,-b", o->batch, "Most images per model run")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--linger-ms", o->linger_ms, "How long a partial batch waits for more requests")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--queue", o->queue,
                  "Most requests waiting at once; beyond, 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--http-threads", o->http_threads, "Connections served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--io-timeout", o->io_timeout_s,
                  "Seconds of silence while a client sends a request or takes the reply, after "
                  "which its connection is closed")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--max-body-mb", o->max_body_mb, "Largest request body in MiB (413 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 2048.0));
  cmd->add_option("--token-file", o->token_file,
                  "File holding the token clients must send (Authorization: Bearer TOKEN)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--insecure-no-token", o->insecure_no_token,
                "Allow a non-loopback --host without a token");
  cmd->add_option("--db", o->db,
                  "Survey to show at /survey and /survey/map (SQLite file or postgresql:// URI)");
  cmd->add_option("--bin-label", o->bin_labels,
                  "Label counted as a trash bin (default: ImageNet 412), as in binscan scan. A "
                  "CLIP model counts the request's labels that are not a \"no bin\" "
                  "description, or the --bin-label texts among them. Beside a CLIP model, a "
                  "classifier takes the specs naming one of its labels (or ids, 'default') and "
                  "leaves the others to the CLIP model's requests");
  cmd->add_option("--threshold", o->threshold, "Bin score from which the verdict is yes")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--quiet,-q", o->quiet, "No request log on stderr");
  cmd->callback([&run, o] { run = [o] { return run_serve(*o); }; });
}

}  // namespace binscan::cli

// binscan compare: the study the course asks for, from the scan database — per photo each model's
// top-5 and verdict; found by both / only A / only B / neither; agreement and Cohen's kappa; score
// distributions. A summary on stdout, and on request a self-contained HTML report, CSV and JSON.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/compare.h"
#include "cli/commands.h"
#include "cli/survey_pages.h"
#include "store/store.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct CompareOptions {
  std::string db = "binscan.db";
  std::vector<std::string> models;
  std::string html, csv, json;
  std::optional<double> threshold;
  int thumb_size = 200;
  bool thumbnails = true;
};

int run_compare(const CompareOptions& o) {
  const auto store = open_store(o.db, Store::Mode::kReadOnly);
  const Comparison c = compare_models(*store, o.models, o.threshold);
  std::fputs(terminal_text(comparison_text(c), /*keep_newlines=*/true).c_str(), stdout);
  if (!o.csv.empty()) {
    write_output(o.csv, comparison_csv(c));
  }
  if (!o.json.empty()) {
    write_output(o.json, json_text(comparison_json(c), 1) + "\n");
  }
  if (!o.html.empty()) {
    write_output(o.html,
                 survey_report_html(c, redacted_location(o.db), o.thumbnails ? o.thumb_size : 0));
  }
  return 0;
}

}  // namespace

void add_compare_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<CompareOptions>();
  auto* cmd = app.add_subcommand(
      "compare",
      "Compare the trash-bin verdicts of two models stored by 'binscan scan': found by both, only "
      "A, only B, neither; agreement and Cohen's kappa; score distributions. Writes a "
      "self-contained HTML report (works offline), CSV and JSON on request.");
  cmd->add_option("--db", o->db,
                  "Survey written by 'binscan scan': an SQLite file or a postgresql:// URI")
      ->capture_default_str();
  cmd->add_option("--models", o->models,
                  "The models to compare, A,B: id, id@revision, or the last part of the id "
                  "(default: the one or two models in the database). A CLIP model scanned with "
                  "several label sets is several model runs: NAME#K is its K-th, in the order "
                  "they were scanned (e.g. --models resnet-50,clip-vit-base-patch32#2)")
      ->delimiter(',');
  cmd->add_option("--html", o->html, "Write the HTML report here");
  cmd->add_option("--csv", o->csv, "Write one CSV row per photo here");
  cmd->add_option("--json", o->json, "Write counts, statistics and every photo as JSON here");
  cmd->add_option("--threshold", o->threshold,
                  "Judge again with this bin-score threshold instead of the one used at scan "
                  "time")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--thumb-size", o->thumb_size, "Longer side of report thumbnails in pixels")
      ->capture_default_str()
      ->check(CLI::Range(16, 1024));
  cmd->add_flag("!--no-thumbnails", o->thumbnails, "Leave the photos out of the HTML report");
  cmd->callback([&run, o] { run = [o] { return run_compare(*o); }; });
}

}  // namespace binscan::cli

// binscan export: the survey as CSV, JSON Lines or GeoJSON, one row per photo and model.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "render/export.h"
#include "store/store.h"
#include "util/file.h"

namespace binscan::cli {
namespace {

struct ExportOptions {
  std::string db = "binscan.db";
  std::string format;
  std::string output;
};

int run_export(const ExportOptions& o) {
  const ExportFormat format = parse_export_format(o.format);
  const auto store = open_store(o.db, Store::Mode::kReadOnly);
  const std::string text = export_survey(*store, format);
  if (o.output.empty() || o.output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    write_file_atomically(o.output, text);
  }
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand(
      "export",
      "Export the survey: one row per photo and model with path, sha256, model, top1_label, "
      "top1_score, bin_score, bin_rank, verdict, lat, lon, bearing, taken_at and more. CSV (RFC "
      "4180), JSON Lines, or GeoJSON (photos with GPS as points at [lon, lat]). A photo that "
      "could not be decoded is one row with an empty model and its error.");
  cmd->add_option("--db", o->db,
                  "Survey written by 'binscan scan': an SQLite file or a postgresql:// URI")
      ->capture_default_str();
  cmd->add_option("--format", o->format, "csv, jsonl or geojson")
      ->required()
      ->check(CLI::IsMember({"csv", "jsonl", "geojson"}));
  cmd->add_option("--output,-o", o->output, "Write here instead of stdout (atomically)");
  cmd->callback([&run, o] { run = [o] { return run_export(*o); }; });
}

}  // namespace binscan::cli

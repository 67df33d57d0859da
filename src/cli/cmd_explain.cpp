// binscan explain: why a model says what it says about one photo — an occlusion map of the bin
// label's probability (or --label's), the spot that matters most in photo pixels, and a PNG of
// the photo with the map laid over it (analysis/occlusion.h).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/occlusion.h"
#include "analysis/verdict.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "image/decode.h"
#include "image/encode.h"
#include "util/error.h"
#include "util/escape.h"

namespace binscan::cli {
namespace {

struct ExplainOptions {
  ModelFlags model;
  std::string photo;
  std::string label;  // text or class id; "" = the bin label (ImageNet 412), else the top-1
  OcclusionOptions occlusion;
  std::string png;
  bool json = false;
};

int run_explain(const ExplainOptions& o) {
  auto model = open_local_model(o.model.model(), o.model, o.model.threads, o.occlusion.batch);
  const DecodedImage photo = load_image(o.photo);
  int label = -1;
  if (!o.label.empty()) {
    try {
      label = resolve_bin_labels({o.label}, model->info()).class_ids.front();
    } catch (const Error& e) {
      throw Error(ErrorKind::kConfig, "--label \"" + o.label + "\"",
                  "matches no label of " + model->info().id +
                      " (give a label text, a synonym "
                      "or a class id)");
    }
  } else {
    try {
      label = resolve_bin_labels({}, model->info()).class_ids.front();
    } catch (const Error&) {
      // No trash-bin class: explain what the model sees most.
      ClassifyInput in;
      in.name = o.photo;
      in.decoded = &photo;
      const PreparedInput p = model->prepare(in);
      label = model->run(std::span(&p, 1), 1).at(0).result.value().top.at(0).class_id;
    }
  }
  const OcclusionMap m = occlusion_map(*model, photo.image, label, o.occlusion);
  if (!o.png.empty()) {
    write_png(o.png, occlusion_overlay(photo.image, m));
    std::fprintf(stderr, "wrote %s\n", terminal_text(o.png).c_str());
  }
  if (o.json) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (std::size_t r = 0; r < m.ys.size(); ++r) {
      rows.push_back(std::vector<double>(
          m.drops.begin() + static_cast<std::ptrdiff_t>(r * m.xs.size()),
          m.drops.begin() + static_cast<std::ptrdiff_t>((r + 1) * m.xs.size())));
    }
    const nlohmann::ordered_json out{
        {"photo", o.photo},
        {"model", model->info().id},
        {"label", m.label_name},
        {"class_id", m.label},
        {"score", m.base_score},
        {"patch", m.options.patch},
        {"stride", m.options.stride},
        {"view", {{"width", m.view.view_width}, {"height", m.view.view_height}}},
        {"view_in_photo",
         {{"scale_x", m.view.scale_x},
          {"scale_y", m.view.scale_y},
          {"offset_x", m.view.offset_x},
          {"offset_y", m.view.offset_y},
          {"photo_width", m.view.photo_width},
          {"photo_height", m.view.photo_height}}},
        {"xs", m.xs},
        {"ys", m.ys},
        {"drops", rows},
        {"peak",
         {{"drop", m.peak_drop},
          {"view_x", m.peak_view_x},
          {"view_y", m.peak_view_y},
          {"photo_x", m.peak_photo_x},
          {"photo_y", m.peak_photo_y}}}};
    std::printf("%s\n", json_text(out).c_str());
    return 0;
  }
  std::printf("%s\n  %s: %.4f on the whole view (%dx%d of the %dx%d photo)\n",
              terminal_text(o.photo).c_str(), terminal_text(m.label_name).c_str(), m.base_score,
              m.view.view_width, m.view.view_height, m.view.photo_width, m.view.photo_height);
  std::printf("  covering the spot at (%.0f, %.0f) in the photo lowers it most: by %.4f\n",
              m.peak_photo_x, m.peak_photo_y, m.peak_drop);
  std::printf("  %zu positions of a %d-pixel grey patch, every %d pixels of the model's view\n",
              m.drops.size(), m.options.patch, m.options.stride);
  return 0;
}

}  // namespace

void add_explain_command(CLI::App& app, Runner& run) {
  auto o = std::make_shared<ExplainOptions>();
  auto* cmd = app.add_subcommand(
      "explain", "Why a model sees (or misses) a bin: an occlusion map of one photo");
  cmd->footer(
      "Slides a grey square over the model's view of the photo (its resized, cropped input)\n"
      "and runs the model on each copy (batched): where covering the picture lowers the label's\n"
      "probability most is what the model looked at. The label is the trash-bin class\n"
      "(ImageNet 412) unless --label says otherwise (text, synonym or class id); a model without\n"
      "it explains its own top-1 label. Prints the spot in photo pixels (after EXIF orientation);\n"
      "--png writes the photo with the map over it (red: matters; dark: outside the model's\n"
      "view); --json prints every position's drop.\n"
      "\n"
      "Examples:\n"
      "  binscan explain -m microsoft/resnet-50 street.jpg --png why.png\n"
      "  binscan explain -m google/vit-base-patch16-224 cats.jpg --label \"tabby cat\" --json");
  ModelFlagsUse use;
  use.remote = false;
  use.fast_decode = false;
  add_model_flags(*cmd, o->model, use);
  cmd->add_option("photo", o->photo, "The photo")->required()->check(CLI::ExistingFile);
  cmd->add_option("--label", o->label, "Label to explain: text, synonym or class id");
  cmd->add_option("--patch", o->occlusion.patch, "Side of the grey square, in model pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--stride", o->occlusion.stride, "Step between positions, in model pixels")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--batch,-b", o->occlusion.batch, "Occluded copies per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--png", o->png, "Write the photo with the map over it here");
  cmd->add_flag("--json", o->json, "Print the whole map as JSON");
  cmd->callback([&run, o] { run = [o] { return run_explain(*o); }; });
}

}  // namespace binscan::cli

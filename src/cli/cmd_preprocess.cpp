// binscan preprocess: what a model is given for a photo — pixel_values as .npy and the resized /
// cropped image as PNG — prepared exactly as transformers' image processor prepares it.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "cli/model_flags.h"
#include "hub/hub.h"
#include "image/decode.h"
#include "image/encode.h"
#include "preprocess/processor.h"
#include "util/error.h"
#include "util/tensor.h"

namespace binscan::cli {
namespace {

struct PreprocessOptions {
  ModelFlags model;  // --model, --revision, --token-file
  std::string image;
  std::string npy;
  std::string png;
};

// Refuse early (before any output exists) when an output cannot be created, so a failure never
// leaves one file written and the other missing.
void check_writable(const std::string& out) {
  const std::filesystem::path p(out);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) throw Error(ErrorKind::kIo, out, "is a directory");
  const auto dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir, ec)) {
    throw Error(ErrorKind::kIo, out, "directory " + dir.string() + " does not exist");
  }
  if (::access(dir.c_str(), W_OK) != 0) {
    throw Error(ErrorKind::kIo, out, "directory " + dir.string() + " is not writable");
  }
}

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// "photo.jpg: 4032x3024 (EXIF orientation 6: 3024x4032) -> resized 256x341 -> centre crop
// 224x224 (ConvNext, bicubic)"
std::string summary(const std::string& image, const DecodedImage& d, const PrepareInfo& info,
                    const ProcessorConfig& c) {
  std::string s = image + ": " + size_text(d.stored_width, d.stored_height);
  if (d.scale_denominator > 1) {
    s += " -> decoded at 1/" + std::to_string(d.scale_denominator) + " (--fast-decode) " +
         size_text(d.image.width, d.image.height);
  }
  if (d.exif.orientation != 1) {
    s += " (EXIF orientation " + std::to_string(d.exif.orientation) + ": " +
         size_text(info.input_width, info.input_height) + ")";
  }
  if (info.resized) {
    s += " -> resized " + size_text(info.resized_width, info.resized_height);
  } else {
    s += " -> not resized";
  }
  if (info.cropped) {
    s += " -> centre crop " + size_text(info.output_width, info.output_height);
    if (info.output_width > info.resized_width || info.output_height > info.resized_height) {
      s += " (zero-padded)";
    }
  }
  s += " (" + std::string(processor_kind_name(c.kind));
  if (info.resized) s += ", " + std::string(resample_name(c.resample));
  if (c.kind == ProcessorKind::kConvNext && info.cropped) {
    s += ", crop_pct " + number_text(c.crop_pct);
  }
  s += ")";
  return s;
}

int run_preprocess(const PreprocessOptions& o) {
  if (o.npy.empty() && o.png.empty()) {
    throw Error(ErrorKind::kConfig, "",
                "nothing to write: give --npy OUT.npy and/or --png OUT.png");
  }
  if (!o.npy.empty() && o.npy == o.png) {
    throw Error(ErrorKind::kConfig, o.npy, "--npy and --png name the same file");
  }
  // A model id needs only its preprocessor_config.json from the Hub cache (fetched if missing).
  std::string config_path = o.model.model();
  if (std::error_code ec; !std::filesystem::exists(config_path, ec) && is_repo_id(config_path)) {
    config_path =
        resolve_file(config_path, "preprocessor_config.json", hub_options(o.model)).string();
  }
  const ProcessorConfig config = ProcessorConfig::from_file(config_path);
  const ImageProcessor processor(config);
  if (!o.npy.empty()) check_writable(o.npy);
  if (!o.png.empty()) check_writable(o.png);

  DecodeOptions decode_options;
  decode_options.apply_orientation = false;  // prepare_oriented reads through the orientation
  if (o.model.fast_decode) {
    decode_options.reduced_fits = [&processor](int w, int h) {
      return processor.accepts_reduced(w, h);
    };
  }
  const DecodedImage decoded = load_image(o.image, decode_options);
  for (const auto& w : decoded.warnings) print_warning(o.image + ": " + w);

  PrepareInfo info;
  Image prepared;
  try {
    prepared = processor.prepare_oriented(decoded.image, decoded.exif.orientation, &info);
  } catch (const Error& e) {
    // Processing errors come from the configuration (e.g. a crop_pct that empties the image).
    throw Error(e.kind(), e.subject().empty() ? o.model.model() : e.subject(), e.cause());
  }

  if (!o.npy.empty()) {
    Tensor t({1, 3, prepared.height, prepared.width});
    processor.to_pixel_values(prepared, t.data.data());
    write_npy(o.npy, t);
  }
  if (!o.png.empty()) {
    try {
      write_png(o.png, prepared);
    } catch (...) {
      if (!o.npy.empty()) {
        std::error_code ec;
        std::filesystem::remove(o.npy, ec);  // all or nothing
      }
      throw;
    }
  }

  std::printf("%s\n", summary(o.image, decoded, info, config).c_str());
  if (!o.npy.empty()) {
    std::printf("  pixel_values [1, 3, %d, %d] float32 -> %s\n", prepared.height, prepared.width,
                o.npy.c_str());
  }
  if (!o.png.empty()) {
    std::printf("  model's view %s RGB -> %s\n", size_text(prepared.width, prepared.height).c_str(),
                o.png.c_str());
  }
  return 0;
}

}  // namespace

void add_preprocess_command(CLI::App& app, Runner& run) {
  auto opts = std::make_shared<PreprocessOptions>();
  auto* cmd = app.add_subcommand("preprocess", "Show exactly what a model is given for a photo");
  cmd->footer(
      "Decodes IMAGE (EXIF orientation applied) and prepares it with the model's\n"
      "preprocessor_config.json exactly as Hugging Face transformers does (Pillow resampling,\n"
      "centre crop, rescale, normalise), then writes:\n"
      "  --npy  pixel_values, float32 [1, 3, H, W] in NumPy format: the model's input tensor,\n"
      "         comparable with transformers' processor(images=..., return_tensors=\"np\").\n"
      "  --png  the resized and cropped RGB image before rescaling: what the classifier sees.\n"
      "         Look here to understand a result: ResNet's centre crop (shortest edge to 256,\n"
      "         then the middle 224x224) can cut off a bin at the edge of the photo, and at\n"
      "         224x224 a distant bin may be only a few pixels wide.\n"
      "\n"
      "Example:\n"
      "  binscan preprocess --model models/configs/microsoft--resnet-50 photo.jpg \\\n"
      "      --npy pixel_values.npy --png seen.png\n"
      "\n"
      "--fast-decode shows what scan and classify --fast-decode give the model: the JPEG\n"
      "decoded at the coarsest DCT scale (1/8, 1/4, 1/2) the resize still accepts.\n"
      "\n"
      "Outputs are written atomically; on any error no output file is left behind.");
  ModelFlagsUse use;
  use.precision = false;  // no engine runs
  use.remote = false;     // only the model's preprocessor_config.json is read
  use.threads = false;
  use.model_help =
      "Hugging Face model directory containing preprocessor_config.json (or the\n"
      "path of a preprocessor_config.json), or a Hub model id";
  add_model_flags(*cmd, opts->model, use);
  cmd->add_option("image", opts->image, "Photo to prepare (JPEG, PNG or WebP)")->required();
  cmd->add_option("--npy", opts->npy, "Write pixel_values here (.npy, float32 [1,3,H,W])");
  cmd->add_option("--png", opts->png, "Write the image the model sees here (PNG)");
  cmd->callback([opts, &run] { run = [opts] { return run_preprocess(*opts); }; });
}

}  // namespace binscan::cli

// Times decode + preprocess (what happens to every photo before a model runs): read the file,
// decode it, apply the EXIF orientation, resize/crop as the model's preprocessor_config.json says,
// rescale and normalise into pixel_values. Prints one JSON line per (config, photo) with the
// median over --repeat runs, then, with --threads 2, the throughput of two workers.
//
//   preprocess_bench --config DIR [--config DIR2] [--repeat N] [--threads T] [--out DIR]
//                    [--breakdown] PHOTO...
//
// --out writes pixel_values of each (config, photo) as CONFIGNAME__PHOTONAME.npy so that
// bench/preprocess/run.sh can check they are identical to Pillow's.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "image/decode.h"
#include "preprocess/processor.h"
#include "preprocess/resample.h"
#include "util/error.h"
#include "util/tensor.h"

using namespace binscan;

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Tensor decode_and_preprocess(const std::filesystem::path& photo, const ImageProcessor& proc) {
  DecodeOptions options;
  options.apply_orientation = false;  // prepare_oriented reads through the orientation
  const DecodedImage d = load_image(photo, options);
  const Image prepared = proc.prepare_oriented(d.image, d.exif.orientation);
  Tensor t({1, 3, prepared.height, prepared.width});
  proc.to_pixel_values(prepared, t.data.data());
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> configs, photos;
  int repeat = 5;
  int threads = 1;
  std::filesystem::path out;
  bool breakdown = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config") {
      configs.emplace_back(value());
    } else if (a == "--repeat") {
      repeat = std::max(1, std::stoi(value()));
    } else if (a == "--threads") {
      threads = std::max(1, std::stoi(value()));
    } else if (a == "--breakdown") {
      breakdown = true;
    } else if (a == "--out") {
      out = value();
    } else {
      photos.emplace_back(a);
    }
  }
  if (configs.empty() || photos.empty()) {
    std::fprintf(stderr,
                 "usage: preprocess_bench --config DIR [--config DIR] [--repeat N] [--threads T] "
                 "[--out DIR] PHOTO...\n");
    return 2;
  }
  try {
    std::fprintf(stderr, "resampler kernels: %s\n",
                 detail::resample_uses_avx2() ? "AVX2" : "scalar");
    for (const auto& cfg_path : configs) {
      const ImageProcessor proc(ProcessorConfig::from_file(cfg_path));
      const std::string cfg_name = std::filesystem::absolute(cfg_path).filename().string();
      // Single thread: per photo, the median of `repeat` runs (after one warm-up).
      for (const auto& photo : photos) {
        if (breakdown) {
          // Decode and preprocess timed separately (development aid).
          std::vector<double> dec, pre;
          for (int r = 0; r < repeat; ++r) {
            DecodeOptions options;
            options.apply_orientation = false;
            const double t0 = now_ms();
            const DecodedImage d = load_image(photo, options);
            const double t1 = now_ms();
            const Image prepared = proc.prepare_oriented(d.image, d.exif.orientation);
            Tensor t({1, 3, prepared.height, prepared.width});
            proc.to_pixel_values(prepared, t.data.data());
            const double t2 = now_ms();
            dec.push_back(t1 - t0);
            pre.push_back(t2 - t1);
          }
          std::printf(
              "{\"config\": \"%s\", \"photo\": \"%s\", \"decode_ms\": %.3f, "
              "\"preprocess_ms\": %.3f}\n",
              cfg_name.c_str(), photo.string().c_str(), median(dec), median(pre));
          continue;
        }
        Tensor t = decode_and_preprocess(photo, proc);
        if (!out.empty()) {
          write_npy(out / (cfg_name + "__" + photo.filename().string() + ".npy"), t);
        }
        std::vector<double> times;
        for (int r = 0; r < repeat; ++r) {
          const double t0 = now_ms();
          t = decode_and_preprocess(photo, proc);
          times.push_back(now_ms() - t0);
        }
        std::printf(
            "{\"tool\": \"binscan\", \"threads\": 1, \"config\": \"%s\", \"photo\": \"%s\", "
            "\"ms\": %.3f}\n",
            cfg_name.c_str(), photo.string().c_str(), median(times));
      }
      // Several workers sharing the photo list (how `binscan scan` uses the cores): wall time
      // per photo, median over `repeat` passes.
      if (threads > 1) {
        std::vector<double> per_photo;
        for (int r = 0; r < repeat; ++r) {
          std::atomic<std::size_t> next{0};
          const double t0 = now_ms();
          std::vector<std::thread> workers;
          for (int w = 0; w < threads; ++w) {
            workers.emplace_back([&] {
              for (std::size_t i; (i = next.fetch_add(1)) < photos.size();) {
                decode_and_preprocess(photos[i], proc);
              }
            });
          }
          for (auto& w : workers) w.join();
          per_photo.push_back((now_ms() - t0) / static_cast<double>(photos.size()));
        }
        std::printf(
            "{\"tool\": \"binscan\", \"threads\": %d, \"config\": \"%s\", \"photo\": \"*\", "
            "\"ms\": %.3f}\n",
            threads, cfg_name.c_str(), median(per_photo));
      }
      std::fflush(stdout);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "preprocess_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

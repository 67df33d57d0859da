// Times the engine's forward pass alone, on full-size ViT-B/16 or ResNet-50 with synthetic
// weights (no checkpoint needed), or on a checkpoint directory. Prints one JSON line like
// `binscan bench --format json`. A development tool for tuning the engine; bench/engine/run.sh
// compares binscan itself with ONNX Runtime and PyTorch.
//
//   engine_bench --arch vit|resnet [--batch B] [--threads N] [--iterations K]
//   engine_bench --model DIR [--batch B] [--threads N] [--iterations K]
//   engine_bench --model DIR --pixels X.npy --out LOGITS.npy   (one forward pass, no timing)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/engines.h"
#include "model/checkpoint.h"
#include "util/error.h"

using namespace binscan;

namespace {

// Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights (nn.Linear/Conv2d's init scale), unit
// BatchNorm/LayerNorm scales: activations stay in a realistic range, no denormals.
std::vector<float> synthetic(const std::string& name, const std::vector<std::int64_t>& shape) {
  std::size_t count = 1;
  for (auto d : shape) count *= static_cast<std::size_t>(d);
  std::vector<float> v(count);
  const auto ends_with = [&](const char* s) {
    const std::size_t n = std::strlen(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  if (ends_with("running_var") ||
      ((ends_with("normalization.weight") || name.find("layernorm") != std::string::npos) &&
       ends_with(".weight"))) {
    std::fill(v.begin(), v.end(), 1.f);
    return v;
  }
  const double fan_in = shape.size() > 1 ? static_cast<double>(count / shape[0]) : 64.0;
  std::mt19937 rng(static_cast<unsigned>(std::hash<std::string>{}(name)));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const float scale = static_cast<float>(1.0 / std::sqrt(fan_in));
  for (auto& x : v) x = dist(rng) * scale;
  return v;
}

// Reads a float32 C-order .npy as numpy.save writes it (version 1 header).
Tensor read_npy(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::string bytes;
  char buf[1 << 16];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
  std::fclose(f);
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error("not an npy file: " + path);
  const std::size_t header_len =
      static_cast<unsigned char>(bytes[8]) |
      (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  const std::string header = bytes.substr(10, header_len);
  if (header.find("<f4") == std::string::npos || header.find("False") == std::string::npos)
    throw std::runtime_error("expected float32 C order: " + path);
  std::vector<std::int64_t> shape;
  const auto open = header.find('(');
  for (std::size_t pos = open + 1; pos < header.size() && header[pos] != ')';) {
    const std::size_t end = header.find_first_of(",)", pos);
    const std::string item = header.substr(pos, end - pos);
    if (item.find_first_of("0123456789") != std::string::npos) shape.push_back(std::stoll(item));
    pos = header[end] == ')' ? end : end + 1;
  }
  Tensor t(shape);
  if (bytes.size() - 10 - header_len != t.data.size() * sizeof(float))
    throw std::runtime_error("truncated npy: " + path);
  std::memcpy(t.data.data(), bytes.data() + 10 + header_len, t.data.size() * sizeof(float));
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  std::string arch = "vit", model, pixels_path, out_path;
  int batch = 1, threads = 2, iterations = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--arch")
      arch = v;
    else if (k == "--batch")
      batch = std::stoi(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--iterations")
      iterations = std::stoi(v);
    else if (k == "--model")
      model = v;
    else if (k == "--pixels")
      pixels_path = v;
    else if (k == "--out")
      out_path = v;
  }
  try {
    std::unique_ptr<Engine> engine;
    std::int64_t channels = 3, size = 224;
    const auto t0 = std::chrono::steady_clock::now();
    if (!model.empty()) {
      const Checkpoint checkpoint = Checkpoint::load(model);
      EngineOptions options;
      options.threads = threads;
      engine = create_engine(checkpoint, options);
      arch = model;
      if (const auto* vit = std::get_if<VitConfig>(&checkpoint.config.arch)) {
        channels = vit->num_channels;
        size = vit->image_size;
      }
    } else if (arch == "vit") {
      engine = engine_internal::make_vit_engine(VitConfig{}, 1000, synthetic, threads);
    } else {
      engine =
          engine_internal::make_resnet_engine(ResNetConfig{}, 1000, synthetic, threads, 224, 224);
    }
    const double load_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!pixels_path.empty()) {
      write_npy(out_path, engine->forward(read_npy(pixels_path)));
      return 0;
    }
    Tensor pixels({batch, channels, size, size});
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.f, 1.f);
    for (auto& x : pixels.data) x = dist(rng);
    engine->forward(pixels);  // builds the plan for this batch size
    std::vector<double> times;
    for (int i = 0; i < iterations; ++i) {
      const auto a = std::chrono::steady_clock::now();
      engine->forward(pixels);
      times.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2] / batch;
    std::printf(
        "{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"ms_per_image\": %.3f, "
        "\"images_per_second\": %.3f, \"min_ms_per_image\": %.3f, \"load_ms\": %.1f}\n",
        arch.c_str(), batch, threads, median, 1000.0 / median, times.front() / batch, load_ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

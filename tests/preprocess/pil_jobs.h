// Batches jobs for tests/reference/pil_preprocess.py so one Python start serves many cases.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "image/image.h"
#include "support/test_support.h"

namespace binscan::test {

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return {s.begin(), s.end()};
}

// Noise mixed with gradients and hard edges: exercises rounding (noise), smooth areas and the
// overshoot of bicubic/lanczos at edges (values clipped to 0..255).
inline Image test_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 255);
  Image img(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = img.row(y) + 3 * x;
      const int region = ((x * 7) / std::max(1, w) + (y * 5) / std::max(1, h)) % 3;
      for (int c = 0; c < 3; ++c) {
        int v = 0;
        if (region == 0)
          v = noise(rng);
        else if (region == 1)
          v = (x * 255 / std::max(1, w - 1) + c * 40) % 256;
        else
          v = ((x / 3 + y / 2) % 2) ? 255 : 0;
        p[c] = static_cast<std::uint8_t>(v);
      }
    }
  }
  return img;
}

class PilJobs {
 public:
  // Adds a resize of `src` (transposed per EXIF orientation first); returns the job index.
  std::size_t add_resize(const Image& src, int orientation, int out_w, int out_h, int filter) {
    const auto in = dir_ / ("in" + std::to_string(jobs_.size()) + ".rgb");
    write_bytes(in, src.pixels);
    nlohmann::json j{{"op", "resize"},
                     {"raw", in.string()},
                     {"width", src.width},
                     {"height", src.height},
                     {"orientation", orientation},
                     {"out_width", out_w},
                     {"out_height", out_h},
                     {"filter", filter},
                     {"out", out_path(jobs_.size()).string()}};
    jobs_.push_back(j);
    return jobs_.size() - 1;
  }

  // Preprocesses an in-memory image with a config file; outputs npy_path(i) and the raw image.
  std::size_t add_preprocess_raw(const std::filesystem::path& config, const Image& src,
                                 int orientation) {
    const auto in = dir_ / ("in" + std::to_string(jobs_.size()) + ".rgb");
    write_bytes(in, src.pixels);
    nlohmann::json j{{"op", "preprocess"},
                     {"config", config.string()},
                     {"raw", in.string()},
                     {"width", src.width},
                     {"height", src.height},
                     {"orientation", orientation},
                     {"npy", npy_path(jobs_.size()).string()},
                     {"prepared", out_path(jobs_.size()).string()}};
    jobs_.push_back(j);
    return jobs_.size() - 1;
  }

  std::size_t add_preprocess_file(const std::filesystem::path& config,
                                  const std::filesystem::path& image) {
    nlohmann::json j{{"op", "preprocess"},
                     {"config", config.string()},
                     {"image", image.string()},
                     {"npy", npy_path(jobs_.size()).string()},
                     {"prepared", out_path(jobs_.size()).string()}};
    jobs_.push_back(j);
    return jobs_.size() - 1;
  }

  // A JPEG written by Pillow: `mode` "RGB", "L" or "CMYK"; subsampling 0 (4:4:4), 1, 2 (4:2:0).
  std::size_t add_make_jpeg(const std::filesystem::path& out, const std::string& mode, int w, int h,
                            int subsampling, bool progressive, int seed) {
    jobs_.push_back({{"op", "make_jpeg"},
                     {"out", out.string()},
                     {"mode", mode},
                     {"width", w},
                     {"height", h},
                     {"subsampling", subsampling},
                     {"progressive", progressive},
                     {"seed", seed}});
    return jobs_.size() - 1;
  }

  // Pillow's decode of a file, exif-transposed or as stored (result() has the orientation).
  std::size_t add_decode(const std::filesystem::path& image, bool transpose) {
    nlohmann::json j{{"op", "decode"},
                     {"image", image.string()},
                     {"transpose", transpose},
                     {"out", out_path(jobs_.size()).string()}};
    jobs_.push_back(j);
    return jobs_.size() - 1;
  }

  // Adds a key to job `i` (e.g. "draft": [w, h]).
  void set(std::size_t i, const std::string& key, const nlohmann::json& value) {
    jobs_.at(i)[key] = value;
  }

  // Runs all jobs; false (with a test failure recorded) when Python failed.
  bool run() {
    const auto file = dir_ / "jobs.json";
    std::ofstream(file) << nlohmann::json{{"jobs", jobs_}}.dump();
    const auto r = run_python("pil_preprocess.py", {file.string()});
    if (r.exit_code != 0) return false;
    results_ = nlohmann::json::parse(r.out);
    return true;
  }

  Image image(std::size_t i) const {
    Image img(results_.at(i).at("width").get<int>(), results_.at(i).at("height").get<int>());
    const auto bytes = read_bytes(out_path(i));
    EXPECT_EQ(bytes.size(), img.pixels.size()) << "job " << i;
    if (bytes.size() == img.pixels.size()) img.pixels = bytes;
    return img;
  }
  const nlohmann::json& result(std::size_t i) const { return results_.at(i); }
  std::filesystem::path npy_path(std::size_t i) const {
    return dir_ / ("out" + std::to_string(i) + ".npy");
  }
  const TempDir& dir() const { return dir_; }

 private:
  std::filesystem::path out_path(std::size_t i) const {
    return dir_ / ("out" + std::to_string(i) + ".rgb");
  }
  TempDir dir_;
  std::vector<nlohmann::json> jobs_;
  nlohmann::json results_;
};

// First differing pixel, for readable failures.
inline std::string first_difference(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height) {
    return "size " + std::to_string(a.width) + "x" + std::to_string(a.height) + " vs " +
           std::to_string(b.width) + "x" + std::to_string(b.height);
  }
  std::size_t count = 0;
  std::string first;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    if (a.pixels[i] != b.pixels[i]) {
      if (count++ == 0) {
        const auto px = i / 3;
        first = "at x=" + std::to_string(px % a.width) + " y=" + std::to_string(px / a.width) +
                " c=" + std::to_string(i % 3) + ": " + std::to_string(a.pixels[i]) + " vs " +
                std::to_string(b.pixels[i]);
      }
    }
  }
  if (count == 0) return "";
  return std::to_string(count) + " bytes differ, first " + first;
}

}  // namespace binscan::test

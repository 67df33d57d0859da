#include "pil_reference.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "support/test_support.h"
#include "util/file.h"

namespace binscan::test {
namespace {

std::vector<PilReference> read_manifest(const std::filesystem::path& dir) {
  const auto text = read_text_file(dir / "manifest.json");
  const auto manifest = nlohmann::json::parse(text);
  std::vector<PilReference> out;
  for (const auto& e : manifest) {
    PilReference r;
    r.path = e.at("path").get<std::string>();
    r.ok = e.at("ok").get<bool>();
    if (!e.at("error").is_null()) r.error = e.at("error").get<std::string>();
    if (r.ok) {
      r.width = e.at("width").get<int>();
      r.height = e.at("height").get<int>();
      if (!e.at("raw").is_null()) r.raw = dir / e.at("raw").get<std::string>();
      r.format = e.at("format").get<std::string>();
      r.stored_width = e.at("stored_width").get<int>();
      r.stored_height = e.at("stored_height").get<int>();
      if (!e.at("exif_error").is_null()) r.exif_error = e.at("exif_error").get<std::string>();
      r.exif = e.at("exif");
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

std::vector<PilReference> pil_decode(const std::filesystem::path& out_dir,
                                     const std::vector<std::filesystem::path>& files) {
  std::vector<std::string> args{"decode", out_dir.string()};
  for (const auto& f : files) args.push_back(f.string());
  const auto r = run_python("pil_images.py", args);
  if (r.exit_code != 0) return {};
  return read_manifest(out_dir);
}

std::vector<PilReference> pil_metadata(const std::filesystem::path& out_dir,
                                       const std::vector<std::filesystem::path>& files) {
  std::vector<std::string> args{"metadata", out_dir.string()};
  for (const auto& f : files) args.push_back(f.string());
  const auto r = run_python("pil_images.py", args);
  if (r.exit_code != 0) return {};
  return read_manifest(out_dir);
}

std::vector<PilReference> pil_generate(const std::filesystem::path& dir, const std::string& group) {
  const auto r = run_python("pil_images.py", {"generate", dir.string(), group});
  if (r.exit_code != 0) return {};
  return read_manifest(dir / "ref");
}

std::string compare_with_reference(const Image& image, const PilReference& ref) {
  std::ostringstream out;
  if (image.width != ref.width || image.height != ref.height) {
    out << "size " << image.width << "x" << image.height << ", Pillow " << ref.width << "x"
        << ref.height;
    return out.str();
  }
  const auto expected = read_file(ref.raw);
  if (expected.size() != image.pixels.size()) return "reference has the wrong byte count";
  std::size_t differing = 0;
  int max_diff = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const int d = std::abs(int{expected[i]} - int{image.pixels[i]});
    if (d != 0) {
      if (differing++ == 0) first = i;
      max_diff = std::max(max_diff, d);
    }
  }
  if (differing == 0) return "";
  const std::size_t px = first / 3;
  out << differing << " of " << expected.size() << " samples differ (max " << max_diff
      << "); first at x=" << px % static_cast<std::size_t>(ref.width)
      << " y=" << px / static_cast<std::size_t>(ref.width) << " channel " << first % 3 << ": "
      << int{image.pixels[first]} << " vs Pillow " << int{expected[first]};
  return out.str();
}

}  // namespace binscan::test

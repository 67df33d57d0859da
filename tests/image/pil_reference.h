// Reading the references written by tests/reference/pil_images.py and comparing decoded pixels
// with them.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "image/image.h"

namespace binscan::test {

struct PilReference {
  std::filesystem::path path;  // the image file
  bool ok = false;             // Pillow could decode it
  std::string error;           // Pillow's error otherwise
  int width = 0, height = 0;   // after exif_transpose
  std::filesystem::path raw;   // RGB bytes, width * height * 3
  std::string format;
  int stored_width = 0, stored_height = 0;
  std::optional<std::string> exif_error;  // Pillow's exif_transpose failed
  nlohmann::json exif;                    // exif_fields() of the script, or null
};

// Runs `pil_images.py decode OUT FILES...` in one Python process.
std::vector<PilReference> pil_decode(const std::filesystem::path& out_dir,
                                     const std::vector<std::filesystem::path>& files);

// The same without pixels: sizes and EXIF only (fast).
std::vector<PilReference> pil_metadata(const std::filesystem::path& out_dir,
                                       const std::vector<std::filesystem::path>& files);

// Runs `pil_images.py generate DIR GROUP`: writes the group's images into DIR and returns their
// references.
std::vector<PilReference> pil_generate(const std::filesystem::path& dir, const std::string& group);

// Empty when `image` equals the reference pixels, otherwise a description of the difference.
std::string compare_with_reference(const Image& image, const PilReference& ref);

}  // namespace binscan::test

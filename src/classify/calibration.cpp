#include "classify/calibration.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"

namespace binscan {

namespace fs = std::filesystem;

namespace {

bool is_sha256_hex(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(),
                                       [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

// The sha256 of one weights file: the Hub cache names a blob by it, so a snapshot's link gives it
// without reading 100+ MB; a plain file is hashed.
std::string file_sha256(const fs::path& file) {
  std::error_code ec;
  if (fs::is_symlink(file, ec)) {
    const std::string blob = fs::canonical(file, ec).filename().string();
    if (!ec && is_sha256_hex(blob)) return blob;
  }
  return sha256_file(file);
}

fs::path cache_root() {
  if (const char* v = std::getenv("BINSCAN_CACHE"); v && *v) return v;
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return fs::path(v) / "binscan";
  if (const char* v = std::getenv("HOME"); v && *v) return fs::path(v) / ".cache" / "binscan";
  return fs::temp_directory_path() / "binscan-cache";
}

}  // namespace

std::string binscan_version() { return "0.1.0"; }  // as `binscan --version`

std::string weights_identity(const fs::path& model_dir, std::uint64_t& bytes) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(model_dir))
    if (e.path().extension() == ".safetensors") files.push_back(e.path());
  if (files.empty())
    throw Error(ErrorKind::kCheckpoint, model_dir.string(), "no .safetensors weights");
  std::sort(files.begin(), files.end());
  bytes = 0;
  std::string listing;
  for (const auto& f : files) {
    bytes += fs::file_size(f);
    listing += f.filename().string() + " " + file_sha256(f) + "\n";
  }
  // One file: its own sha256 (what the Hub shows); shards: the sha256 of their list.
  const std::string hex =
      files.size() == 1 ? listing.substr(listing.find(' ') + 1, 64) : sha256_hex(listing);
  return "sha256:" + hex;
}

fs::path default_calibration_path(const std::string& identity) {
  const std::string hex = identity.substr(identity.find(':') + 1);
  return cache_root() / "calibration" / (hex + ".json");
}

void save_calibration(const Calibration& c, const fs::path& path) {
  nlohmann::json ranges = nlohmann::json::object();
  for (const auto& [name, range] : c.ranges) ranges[name] = range;
  const nlohmann::json j = {{"binscan_version", c.binscan_version},
                            {"model",
                             {{"id", c.model_id},
                              {"revision", c.revision},
                              {"weights", c.weights},
                              {"weights_bytes", c.weights_bytes}}},
                            {"method", c.method},
                            {"photos", c.photos},
                            {"ranges", ranges}};
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  write_file_atomically(path, j.dump(2) + "\n");
}

Calibration load_calibration(const fs::path& path) {
  const nlohmann::json j = parse_json(read_text_file(path), path.string());
  Calibration c;
  try {
    c.binscan_version = j.at("binscan_version").get<std::string>();
    const auto& m = j.at("model");
    c.model_id = m.at("id").get<std::string>();
    c.revision = m.at("revision").get<std::string>();
    c.weights = m.at("weights").get<std::string>();
    c.weights_bytes = m.at("weights_bytes").get<std::uint64_t>();
    c.method = j.at("method").get<std::string>();
    c.photos = j.at("photos").get<int>();
    for (const auto& [name, range] : j.at("ranges").items()) {
      const float r = range.get<float>();
      if (!std::isfinite(r) || r < 0)
        throw Error(ErrorKind::kFormat, path.string(), "range of " + name + " is not >= 0");
      c.ranges.emplace(name, r);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kFormat, path.string(),
                std::string("not a binscan calibration: ") + e.what());
  }
  if (c.method != "max")
    throw Error(ErrorKind::kFormat, path.string(), "unknown calibration method " + c.method);
  return c;
}

}  // namespace binscan

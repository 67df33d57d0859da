// int8 calibrations as files: the activation ranges an fp32 run of a model recorded on a set of
// photos (`binscan calibrate`), with what identifies the model's weights, so that int8 runs of
// that model -- and only that model -- reuse them.
//
//   {"binscan_version": "0.1.0", "model": {"id": ..., "revision": ..., "weights": "sha256:...",
//    "weights_bytes": N}, "method": "max", "photos": N, "ranges": {"<layer>": max |input|, ...}}
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/engine.h"

namespace binscan {

struct Calibration {
  std::string binscan_version;
  std::string model_id, revision;  // what the user named (for people; not checked)
  std::string weights;             // weights_identity() of the model calibrated
  std::uint64_t weights_bytes = 0;
  std::string method = "max";  // the largest |value| seen per tensor
  int photos = 0;
  ActivationRanges ranges;
};

// "sha256:<hex>" of the model's safetensors files: read from the Hub cache's blob name (the
// sha256 of its content) when the file is a link to one, else hashed. `bytes`: their total size.
std::string weights_identity(const std::filesystem::path& model_dir, std::uint64_t& bytes);

// Where `binscan calibrate` keeps a model's calibration by default: binscan's cache
// ($BINSCAN_CACHE, else $XDG_CACHE_HOME/binscan, else ~/.cache/binscan), calibration/<hex>.json,
// named by the weights' identity -- so any directory, revision or copy holding the same weights
// finds it.
std::filesystem::path default_calibration_path(const std::string& weights_identity);

// Writes atomically (Error(kIo)).
void save_calibration(const Calibration& calibration, const std::filesystem::path& path);
// Reads and checks a calibration (Error(kFormat) naming the file when malformed).
Calibration load_calibration(const std::filesystem::path& path);

// The binscan version a calibration records.
std::string binscan_version();

}  // namespace binscan

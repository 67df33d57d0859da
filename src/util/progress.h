// Progress reporting on stderr: a redrawn bar on a terminal, plain periodic lines otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace binscan {

class Progress {
 public:
  enum class Unit { kItems, kBytes };
  // total <= 0: unknown. enabled=false: prints nothing (e.g. --quiet).
  Progress(std::string label, std::int64_t total, Unit unit = Unit::kItems, bool enabled = true);
  ~Progress();  // finishes the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_total(std::int64_t total);
  // What the items are called in the rate, e.g. "photos" gives "12 photos/s" (default "it").
  void set_item_name(std::string name);
  void advance(std::int64_t n = 1);  // thread-safe
  void set(std::int64_t done);       // thread-safe
  void finish();

 private:
  void draw_locked(bool final);
  std::string label_;
  std::string item_name_ = "it";
  std::int64_t total_;
  std::int64_t done_ = 0;
  Unit unit_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::mutex mutex_;
};

// A rate as the bar shows it: bytes with a unit ("1.5 MB"); counts with the digits a slow rate
// needs ("0.42", "3.5", "12"), so a model doing a photo every few seconds does not read "0".
std::string format_rate(double per_second, Progress::Unit unit);

}  // namespace binscan

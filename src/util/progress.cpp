#include "util/progress.h"

#include <unistd.h>

#include <cstdio>

#include "util/escape.h"

namespace binscan {
namespace {

std::string human(double value, Progress::Unit unit) {
  char buf[32];
  if (unit == Progress::Unit::kBytes) {
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (value >= 1000 && i < 4) {
      value /= 1000;
      ++i;
    }
    std::snprintf(buf, sizeof buf, i == 0 ? "%.0f %s" : "%.1f %s", value, units[i]);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", value);
  }
  return buf;
}

std::string duration(double seconds) {
  if (seconds < 0 || seconds > 360000) return "--:--";
  const int s = static_cast<int>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02d:%02d", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

std::string format_rate(double per_second, Progress::Unit unit) {
  if (unit == Progress::Unit::kBytes || per_second >= 10) return human(per_second, unit);
  char buf[32];
  std::snprintf(buf, sizeof buf, per_second >= 1 ? "%.1f" : "%.2f", per_second);
  return buf;
}

Progress::Progress(std::string label, std::int64_t total, Unit unit, bool enabled)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::set_total(std::int64_t total) {
  std::lock_guard lock(mutex_);
  total_ = total;
}

void Progress::set_item_name(std::string name) {
  std::lock_guard lock(mutex_);
  item_name_ = std::move(name);
}

void Progress::advance(std::int64_t n) {
  std::lock_guard lock(mutex_);
  done_ += n;
  draw_locked(false);
}

void Progress::set(std::int64_t done) {
  std::lock_guard lock(mutex_);
  done_ = done;
  draw_locked(false);
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw_locked(true);
}

void Progress::draw_locked(bool final) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  // A terminal is redrawn 10 times a second; a log file gets a line every 5 seconds.
  const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (!final && last_draw_.time_since_epoch().count() != 0 && now - last_draw_ < interval) return;
  if (final && done_ == 0 && !tty_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  std::string line = label_ + " ";
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    if (tty_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(fraction * kWidth);
      line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    }
    char pct[16];
    std::snprintf(pct, sizeof pct, "%3.0f%% ", fraction * 100);
    line += pct + human(static_cast<double>(done_), unit_) + "/" +
            human(static_cast<double>(total_), unit_);
  } else {
    line += human(static_cast<double>(done_), unit_);
  }
  char tail[96];
  std::string per;
  if (unit_ != Unit::kBytes) {
    per += ' ';
    per += item_name_;
  }
  per += "/s";
  const double eta = (total_ > 0 && rate > 0) ? static_cast<double>(total_ - done_) / rate : -1;
  std::snprintf(tail, sizeof tail, "  %s%s  %s %s", format_rate(rate, unit_).c_str(), per.c_str(),
                final ? "elapsed" : "ETA", duration(final ? elapsed : eta).c_str());
  line += tail;
  // The label can carry a file or model name: no escape sequence may reach the terminal.
  line = terminal_text(line);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace binscan

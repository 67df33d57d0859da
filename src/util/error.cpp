#include "util/error.h"

#include <algorithm>

#include "util/escape.h"

namespace binscan {

std::string format_error_line(const std::string& subject, const std::string& cause) {
  const std::string raw = subject.empty() ? cause : subject + ": " + cause;
  // Subjects and causes carry text from outside (file names, HTTP headers, API errors, labels):
  // control bytes would reach the terminal (escape sequences retitle windows and clear screens;
  // a NUL cut the line short), so they are written as \xNN (terminal_text); line breaks become
  // spaces.
  return terminal_text(raw);
}

Error::Error(ErrorKind kind, std::string subject, std::string cause)
    : std::runtime_error(format_error_line(subject, cause)),
      kind_(kind),
      subject_(std::move(subject)),
      cause_(std::move(cause)) {}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConfig:
      return 2;  // usage / configuration problems: cli/ gives every usage error this status
    case ErrorKind::kInterrupted:
      return 130;
    case ErrorKind::kInternal:
      return 70;
    default:
      return 1;
  }
}

}  // namespace binscan

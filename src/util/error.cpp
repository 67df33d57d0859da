#include "util/error.h"

#include <algorithm>

namespace binscan {

std::string format_error_line(const std::string& subject, const std::string& cause) {
  std::string line = subject.empty() ? cause : subject + ": " + cause;
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  return line;
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

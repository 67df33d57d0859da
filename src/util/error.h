// Layer util/ owns what every layer shares: the error type, whole-file reading and atomic writing,
// progress bars, the thread plan, tensors and .npy, digests (sha256), text helpers (trim, base64).
// May use: nothing else of binscan (the standard library, nlohmann::json, OpenSSL).
//
// binscan::Error — the one error type of the project.
//
// Created where a problem is detected, carrying what went wrong and which file, tensor or URL it
// concerns; turned into a one-line message and an exit code only in cli/. Deep layers never print.
#pragma once

#include <stdexcept>
#include <string>

namespace binscan {

enum class ErrorKind {
  kIo,           // cannot open/read/write a path
  kFormat,       // content is malformed (truncated JPEG, bad JSON, bad safetensors header)
  kUnsupported,  // well-formed but not something we handle (unknown architecture, dtype, format)
  kTooLarge,     // refused on purpose (decompression bomb, absurd header)
  kConfig,       // invalid configuration value (preprocessor_config.json, config.json, flags)
  kCheckpoint,   // missing or mis-shaped tensor in a model checkpoint
  kNetwork,      // connection failure, timeout, unexpected HTTP status
  kAuth,         // 401/403: token missing, invalid or without access
  kNotFound,     // model, revision or file does not exist
  kOffline,      // HF_HUB_OFFLINE forbids the network and the cache lacks the file
  kInterrupted,  // the user asked us to stop
  kInternal,     // a bug in binscan
};

class Error : public std::runtime_error {
 public:
  // subject: the file path, tensor name or URL the error is about (may be empty).
  // cause: a short human sentence without trailing period, e.g. "truncated JPEG data".
  Error(ErrorKind kind, std::string subject, std::string cause);

  ErrorKind kind() const { return kind_; }
  const std::string& subject() const { return subject_; }
  const std::string& cause() const { return cause_; }

 private:
  ErrorKind kind_;
  std::string subject_;
  std::string cause_;
};

// "subject: cause", or just cause when subject is empty. Never contains a newline.
std::string format_error_line(const std::string& subject, const std::string& cause);

// Process exit code for an error kind (used by cli/ only).
int exit_code_for(ErrorKind kind);

}  // namespace binscan

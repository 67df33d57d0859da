// Content digests, once for the whole program: the sha256 that names a photo in the survey, the
// fingerprint of a model directory, and the checks of Hub downloads (the Hub names an LFS file's
// blob by the sha256 of its content, and a small git-stored file's blob by its git object id).
// All lower-case hex, computed with OpenSSL.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace binscan {

// An incremental digest: feed it bytes (or whole files), then read the hex digest once.
class Digest {
 public:
  enum class Algorithm { kSha256, kSha1 };
  explicit Digest(Algorithm algorithm = Algorithm::kSha256);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void update(const void* data, std::size_t n);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Adds the file's content. Throws Error(kIo) naming the path.
  void update_file(const std::filesystem::path& path);
  // The digest in lower-case hex; the object is spent afterwards.
  std::string hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lower-case hex sha256 of bytes, of a string, of a file's content (Error(kIo)).
std::string sha256_hex(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);

// Lower-case hex git blob id: sha1("blob <size>\0" + content). Throws Error(kIo).
std::string git_blob_sha1_file(const std::filesystem::path& path);

}  // namespace binscan

#include "util/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "util/error.h"

namespace binscan {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

struct Digest::Impl {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx{EVP_MD_CTX_new()};
};

Digest::Digest(Algorithm algorithm) : impl_(std::make_unique<Impl>()) {
  const EVP_MD* md = algorithm == Algorithm::kSha1 ? EVP_sha1() : EVP_sha256();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), md, nullptr) != 1) {
    throw Error(ErrorKind::kInternal, "", "cannot initialise OpenSSL digest");
  }
}

Digest::~Digest() = default;

void Digest::update(const void* data, std::size_t n) {
  if (n > 0) EVP_DigestUpdate(impl_->ctx.get(), data, n);
}

void Digest::update_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f)
    throw Error(ErrorKind::kIo, path.string(), std::string("cannot open: ") + std::strerror(errno));
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    update(buf.data(), n);
    if (n < buf.size()) {
      if (std::ferror(f.get())) {
        throw Error(ErrorKind::kIo, path.string(),
                    std::string("read error: ") + std::strerror(errno));
      }
      break;
    }
  }
}

std::string Digest::hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out, &len) != 1) {
    throw Error(ErrorKind::kInternal, "", "digest failed");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    s += kDigits[out[i] >> 4];
    s += kDigits[out[i] & 15];
  }
  return s;
}

std::string sha256_hex(std::span<const std::uint8_t> bytes) {
  Digest d;
  d.update(bytes.data(), bytes.size());
  return d.hex();
}

std::string sha256_hex(std::string_view data) {
  Digest d;
  d.update(data);
  return d.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  Digest d;
  d.update_file(path);
  return d.hex();
}

std::string git_blob_sha1_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorKind::kIo, path.string(), "cannot stat: " + ec.message());
  Digest d(Digest::Algorithm::kSha1);
  const std::string prefix = "blob " + std::to_string(size);
  d.update(prefix.data(), prefix.size() + 1);  // with the terminating NUL, as git hashes it
  d.update_file(path);
  return d.hex();
}

}  // namespace binscan

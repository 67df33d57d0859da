#include "hub/digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
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

class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1) {
      throw Error(ErrorKind::kInternal, "", "cannot initialise OpenSSL digest");
    }
  }
  void update(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_.get(), data, n); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &len);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < len; ++i) {
      s += digits[out[i] >> 4];
      s += digits[out[i] & 15];
    }
    return s;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx_;
};

void hash_file(Digest& digest, const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f)
    throw Error(ErrorKind::kIo, path.string(), std::string("cannot open: ") + std::strerror(errno));
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    digest.update(buf.data(), n);
    if (n < buf.size()) {
      if (std::ferror(f.get())) {
        throw Error(ErrorKind::kIo, path.string(),
                    std::string("read error: ") + std::strerror(errno));
      }
      break;
    }
  }
}

}  // namespace

std::string sha256_file(const std::filesystem::path& path) {
  Digest d(EVP_sha256());
  hash_file(d, path);
  return d.hex();
}

std::string git_blob_sha1_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorKind::kIo, path.string(), "cannot stat: " + ec.message());
  Digest d(EVP_sha1());
  const std::string prefix = "blob " + std::to_string(size);
  d.update(prefix.data(), prefix.size() + 1);  // with the terminating NUL, as git hashes it
  hash_file(d, path);
  return d.hex();
}

std::string sha256_hex(std::string_view data) {
  Digest d(EVP_sha256());
  d.update(data.data(), data.size());
  return d.hex();
}

}  // namespace binscan

// Model resolution and downloads, following huggingface_hub's file_download.py
// (hf_hub_download -> _hf_hub_download_to_cache_dir): HEAD without redirects for the commit, etag
// and size; GET of the (possibly CDN-redirected) location into blobs/<etag>.incomplete, resumed
// with Range; checked, renamed, and pointed at by a relative symlink in snapshots/<commit>/.
#include "hub/hub.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "hub/http.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/progress.h"
#include "util/shard_index.h"
#include "util/text.h"

namespace binscan {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTokenPage = "https://huggingface.co/settings/tokens";
constexpr int kDownloadRetries = 5;
// The slowest average download rate accepted (bytes/s) before the overall deadline fires.
constexpr double kDownloadMinRate =
    16 * 1024;  // like huggingface_hub's http_get: resume up to 5 times

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

fs::path home_dir() {
  if (auto h = env("HOME")) return *h;
  if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
  return "/";
}

fs::path expand_user(const std::string& p) {
  if (p == "~") return home_dir();
  if (p.rfind("~/", 0) == 0) return home_dir() / p.substr(2);
  return p;
}

double env_seconds(const char* name, double fallback) {
  if (auto v = env(name)) {
    char* end = nullptr;
    const double d = std::strtod(v->c_str(), &end);
    if (end != v->c_str() && d > 0) return d;
  }
  return fallback;
}

// [A-Za-z0-9._-]+: the characters of Hub names, etags and commits. (Hand-written rather than
// std::regex: simpler, and GCC 12 warns inside <regex> under the sanitizers.)
bool is_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool is_lower_hex(const std::string& s, std::size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_commit_hash(const std::string& s) { return is_lower_hex(s, 40); }

bool is_sha256(const std::string& s) { return is_lower_hex(s, 64); }

// An etag or commit becomes a file name: refuse anything that could leave the cache.
bool is_safe_component(const std::string& s) { return is_name(s) && s != "." && s != ".."; }

// A repository file name from the server (index weight_map): relative, no "..".
bool is_safe_relative(const std::string& s) {
  if (s.empty() || s.front() == '/' || s.find('\\') != std::string::npos) return false;
  for (const auto& part : fs::path(s)) {
    if (part == ".." || part == "." || part.empty()) return false;
  }
  return true;
}

std::string short_text(std::string s, std::size_t max = 200) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT, 0666);
  if (fd >= 0) ::close(fd);
}

// An exclusive flock(2), the lock huggingface_hub takes through the filelock package (fcntl.flock
// on the same path), so binscan and Python processes exclude each other too.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0666);
    if (fd_ < 0) {
      throw Error(ErrorKind::kIo, path.string(),
                  std::string("cannot open lock: ") + std::strerror(errno));
    }
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        throw Error(ErrorKind::kIo, path.string(),
                    std::string("cannot lock: ") + std::strerror(err));
      }
    }
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Points snapshots/<commit>/<file> at blobs/<etag> with a relative link, as _create_symlink does.
void create_pointer(const fs::path& blob, const fs::path& pointer) {
  fs::create_directories(pointer.parent_path());
  std::error_code ec;
  fs::remove(pointer, ec);
  const fs::path target = blob.lexically_relative(pointer.parent_path());
  fs::create_symlink(target, pointer, ec);
  if (ec) {
    // Another process may have created it between remove and symlink: fine if it is the same.
    std::error_code ec2;
    if (fs::is_symlink(pointer, ec2) && fs::equivalent(pointer, blob, ec2)) return;
    throw Error(ErrorKind::kIo, pointer.string(), "cannot create symlink: " + ec.message());
  }
}

struct FileMeta {
  std::string commit;
  std::string etag;
  std::int64_t size = -1;
  std::string location;  // where to GET the content (a CDN for large files)
};

// What the cache knows about a file at a revision.
struct CacheLookup {
  enum State { kUnknown, kFound, kAbsent } state = kUnknown;
  fs::path path;
  std::string commit;
};

class HubSession {
 public:
  HubSession(std::string repo_id, const HubOptions& options)
      : repo_id_(std::move(repo_id)),
        options_(options),
        cache_(fs::absolute(hub_cache_dir())),
        storage_(cache_ / repo_folder_name(repo_id_)),
        endpoint_(hub_endpoint()),
        token_(find_token(options)),
        offline_(hub_offline()) {}

  const std::vector<std::string>& warnings() const { return warnings_; }
  const fs::path& storage() const { return storage_; }

  // The snapshot path of `filename` at `revision`, or nullopt when the repository has no such
  // file. On success `revision` is replaced by the commit hash, so that every later file comes
  // from the same commit even if the branch moves meanwhile (as snapshot_download does).
  std::optional<fs::path> fetch(const std::string& filename, std::string& revision) {
    if (is_commit_hash(revision)) {
      const auto pointer = storage_ / "snapshots" / revision / filename;
      if (fs::exists(pointer)) return pointer;
      if (fs::exists(storage_ / ".no_exist" / revision / filename)) return std::nullopt;
    }
    if (offline_ || network_failed_) return from_cache_or_throw(filename, revision);

    const std::string url = endpoint_ + "/" + repo_id_ + "/resolve/" +
                            http::url_quote(revision, false) + "/" +
                            http::url_quote(filename, true);
    http::Response head;
    try {
      head = head_request(url);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNetwork) throw;
      // Connection trouble: like huggingface_hub, fall back on what the cache has.
      network_failed_ = true;
      auto cached = lookup_cache(filename, revision);
      if (cached.state != CacheLookup::kUnknown) {
        warnings_.push_back("cannot reach " + endpoint_ + " (" + e.cause() +
                            "); using the cached snapshot " + cached.commit + " of " + repo_id_);
        return take(cached, revision);
      }
      throw Error(ErrorKind::kNetwork, e.subject(),
                  e.cause() + "; and " + repo_id_ + " is not in the cache " + cache_.string());
    }

    if (head.status >= 400) {
      const std::string code = head.header("x-error-code");
      if (head.status == 404 && code != "RepoNotFound" && code != "RevisionNotFound") {
        // The repository exists but not this file: remember it, as huggingface_hub does.
        const std::string commit = head.header("x-repo-commit");
        if (is_commit_hash(commit)) {
          touch(storage_ / ".no_exist" / commit / filename);
          write_ref(revision, commit);
        }
        return std::nullopt;
      }
      if (head.status == 404) throw_http_error(head, url, filename, revision);
      // 401/403/429/5xx: use the cache if it has the file (huggingface_hub does the same), else
      // fail.
      auto cached = lookup_cache(filename, revision);
      if (cached.state != CacheLookup::kUnknown) {
        warnings_.push_back(std::string(http_error(head, url, filename, revision).what()) +
                            "; using the cached snapshot " + cached.commit + " of " + repo_id_);
        return take(cached, revision);
      }
      throw_http_error(head, url, filename, revision);
    }

    const FileMeta meta = metadata(head, url);
    write_ref(revision, meta.commit);
    const fs::path blob = storage_ / "blobs" / meta.etag;
    const fs::path pointer = storage_ / "snapshots" / meta.commit / filename;
    revision = meta.commit;
    if (fs::exists(pointer)) return pointer;
    fs::create_directories(blob.parent_path());
    if (fs::exists(blob)) {
      create_pointer(blob, pointer);
      return pointer;
    }
    // The etag may be shared across repositories, hence the repo folder in the lock path.
    FileLock lock(cache_ / ".locks" / repo_folder_name(repo_id_) / (meta.etag + ".lock"));
    if (!fs::exists(blob)) {
      download_blob(meta, url, blob, filename);
    }
    create_pointer(blob, pointer);
    return pointer;
  }

 private:
  http::Response head_request(std::string url) {
    http::Request req;
    req.method = "HEAD";
    // The real size of the file, never a compressed one.
    req.headers = {{"Accept-Encoding", "identity"}};
    req.bearer_token = token_;
    req.connect_timeout_s = env_seconds("HF_HUB_ETAG_TIMEOUT", 10);
    req.timeout_s = req.connect_timeout_s;
    // Relative redirects (a renamed repository) are followed with the token; absolute ones (the
    // CDN) are only noted: their Location is where the content will be fetched.
    for (int hop = 0;; ++hop) {
      req.url = url;
      http::Response r = http::perform(req);
      const std::string location = r.header("location");
      const bool relative = r.status >= 300 && r.status < 400 && !location.empty() &&
                            location.front() == '/' && location.rfind("//", 0) != 0;
      if (!relative || hop >= 5) return r;
      url = http::origin_of(url) + location;
    }
  }

  FileMeta metadata(const http::Response& r, const std::string& url) {
    FileMeta m;
    m.commit = r.header("x-repo-commit");
    std::string etag = r.header("x-linked-etag");
    if (etag.empty()) etag = r.header("etag");
    if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
    etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
    m.etag = etag;
    std::string size = r.header("x-linked-size");
    if (size.empty()) size = r.header("content-length");
    try {
      m.size = size.empty() ? -1 : std::stoll(size);
    } catch (const std::exception&) {
      m.size = -1;
    }
    m.location = r.status >= 300 && r.status < 400 && !r.redirect_url.empty() ? r.redirect_url
                 : r.effective_url.empty()                                    ? url
                                                                              : r.effective_url;
    const std::string shown = http::display_url(url);
    if (m.commit.empty()) {
      throw Error(ErrorKind::kNetwork, shown,
                  "the answer has no X-Repo-Commit header: is " + endpoint_ +
                      " a Hugging Face Hub (check HF_ENDPOINT and any proxy)?");
    }
    if (!is_safe_component(m.commit)) {
      throw Error(ErrorKind::kNetwork, shown,
                  "malformed X-Repo-Commit '" + short_text(m.commit, 80) + "'");
    }
    if (m.etag.empty() || !is_safe_component(m.etag)) {
      throw Error(ErrorKind::kNetwork, shown,
                  "the answer has no usable ETag, so the download could not be verified");
    }
    if (m.size < 0) throw Error(ErrorKind::kNetwork, shown, "the answer has no file size");
    return m;
  }

  void write_ref(const std::string& revision, const std::string& commit) {
    if (revision == commit || !is_commit_hash(commit)) return;
    if (!is_safe_relative(revision)) return;  // e.g. "refs/pr/1" is fine, "../x" is not
    const fs::path ref = storage_ / "refs" / revision;
    std::error_code ec;
    if (fs::is_regular_file(ref, ec)) {
      try {
        if (read_text_file(ref) == commit) return;
      } catch (const Error&) {
      }
    }
    fs::create_directories(ref.parent_path());
    write_file_atomically(ref, commit);  // exactly the hash, no newline, as Python writes it
  }

  CacheLookup lookup_cache(const std::string& filename, const std::string& revision) const {
    CacheLookup out;
    std::string commit = revision;
    if (!is_commit_hash(revision)) {
      const fs::path ref = storage_ / "refs" / revision;
      std::error_code ec;
      if (!is_safe_relative(revision) || !fs::is_regular_file(ref, ec)) return out;
      try {
        commit = trim(read_text_file(ref));
      } catch (const Error&) {
        return out;
      }
      if (!is_safe_component(commit)) return out;
    }
    out.commit = commit;
    const fs::path pointer = storage_ / "snapshots" / commit / filename;
    if (fs::exists(pointer)) {
      out.state = CacheLookup::kFound;
      out.path = pointer;
    } else if (fs::exists(storage_ / ".no_exist" / commit / filename)) {
      out.state = CacheLookup::kAbsent;
    }
    return out;
  }

  std::optional<fs::path> take(const CacheLookup& cached, std::string& revision) {
    revision = cached.commit;
    if (cached.state == CacheLookup::kFound) return cached.path;
    return std::nullopt;
  }

  std::optional<fs::path> from_cache_or_throw(const std::string& filename, std::string& revision) {
    auto cached = lookup_cache(filename, revision);
    if (cached.state != CacheLookup::kUnknown) return take(cached, revision);
    if (offline_) {
      throw Error(ErrorKind::kOffline, repo_id_,
                  "HF_HUB_OFFLINE is set and " + filename + " of revision '" + revision +
                      "' is not in the cache " + cache_.string() + "; run `binscan download " +
                      repo_id_ + "` while online, or unset HF_HUB_OFFLINE");
    }
    throw Error(ErrorKind::kNetwork, repo_id_,
                "the Hub could not be reached and " + filename + " of revision '" + revision +
                    "' is not in the cache " + cache_.string());
  }

  [[noreturn]] void throw_http_error(const http::Response& r, const std::string& url,
                                     const std::string& filename, const std::string& revision) {
    throw http_error(r, url, filename, revision);
  }

  // The error an HTTP failure status means, in words saying what to do about it.
  Error http_error(const http::Response& r, const std::string& url, const std::string& filename,
                   const std::string& revision) const {
    const std::string shown = http::display_url(url);
    const std::string code = r.header("x-error-code");
    std::string server = r.header("x-error-message");
    server = server.empty() ? "" : " (server: " + short_text(server) + ")";
    const std::string status = "HTTP " + std::to_string(r.status);
    if (code == "GatedRepo" || (r.status == 403 && server.find("gated") != std::string::npos)) {
      return Error(ErrorKind::kAuth, shown,
                   status + ": " + repo_id_ + " is a gated model; accept its conditions at " +
                       endpoint_ + "/" + repo_id_ +
                       " while logged in, and use a token of that account (" +
                       (token_ ? "the token found was not granted access" : "no token was found") +
                       ")" + server);
    }
    switch (r.status) {
      case 401:
        if (token_) {
          return Error(ErrorKind::kAuth, shown,
                       status +
                           ": the token was rejected (invalid or expired, or without access to " +
                           repo_id_ + "); check it at " + kTokenPage + server);
        }
        return Error(
            ErrorKind::kAuth, shown,
            status + ": authentication required — " + repo_id_ +
                " does not exist or is private or gated, and no token was found; create one at " +
                kTokenPage + " and pass it with HF_TOKEN, --token-file or `huggingface-cli login`" +
                server);
      case 403:
        return Error(ErrorKind::kAuth, shown,
                     status + ": access to " + repo_id_ + " denied; " +
                         (token_ ? "the token lacks the permission, check it at "
                                 : "no token was found; create one at ") +
                         kTokenPage + server);
      case 404:
        if (code == "RevisionNotFound") {
          return Error(ErrorKind::kNotFound, shown,
                       status + ": " + repo_id_ + " has no revision '" + revision + "'" + server);
        }
        if (code == "RepoNotFound") {
          return Error(ErrorKind::kNotFound, shown,
                       status + ": no model " + repo_id_ + " on " + endpoint_ +
                           " (if it is private, pass a token)" + server);
        }
        return Error(ErrorKind::kNotFound, shown,
                     status + ": " + repo_id_ + " has no file " + filename + " at revision '" +
                         revision + "'" + server);
      case 429:
        return Error(ErrorKind::kNetwork, shown,
                     status + ": rate limited by the Hub; try again later");
      default:
        if (r.status >= 500) {
          return Error(ErrorKind::kNetwork, shown,
                       status + ": server error at the Hub; try again later" + server);
        }
        return Error(ErrorKind::kNetwork, shown, "unexpected " + status + server);
    }
  }

  // _download_to_tmp_and_move + http_get: download into blobs/<etag>.incomplete (resuming what
  // is there), check size and digest, then rename into place.
  void download_blob(const FileMeta& meta, const std::string& hub_url, const fs::path& blob,
                     const std::string& filename) {
    const fs::path incomplete = fs::path(blob.string() + ".incomplete");
    const int fd = ::open(incomplete.c_str(), O_WRONLY | O_CREAT, 0666);
    if (fd < 0) {
      throw Error(ErrorKind::kIo, incomplete.string(),
                  std::string("cannot create: ") + std::strerror(errno));
    }
    struct FdCloser {
      int fd;
      ~FdCloser() { ::close(fd); }
    } closer{fd};
    auto io_error = [&](const char* what) {
      return Error(ErrorKind::kIo, incomplete.string(),
                   std::string(what) + ": " + std::strerror(errno));
    };
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) throw io_error("cannot seek");
    std::int64_t written = end;
    auto restart = [&] {
      if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
        throw io_error("cannot truncate");
      written = 0;
    };
    if (written > meta.size) restart();

    Progress progress("Downloading " + filename, meta.size, Progress::Unit::kBytes,
                      options_.show_progress);
    progress.set(written);
    // The token goes only where it was meant to: the Hub itself, not a CDN (huggingface_hub
    // drops the authorization header when the location's host differs).
    const bool same_origin = http::origin_of(meta.location) == http::origin_of(hub_url);
    const std::string shown = http::display_url(meta.location);
    int retries_left = kDownloadRetries;
    bool restarted_on_416 = false;
    // Two limits: the stall check (under 1 byte/s for HF_HUB_DOWNLOAD_TIMEOUT s) and an overall
    // deadline scaled to the announced size, so a server dribbling bytes cannot keep a download
    // going for days: 6 stall periods plus the size at kDownloadMinRate.
    const double stall_s = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10);
    const double min_rate = env_seconds("BINSCAN_DOWNLOAD_MIN_RATE", kDownloadMinRate);
    const double budget_s =
        6 * stall_s + static_cast<double>(std::max<std::int64_t>(meta.size, 0)) / min_rate;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(budget_s);
    auto deadline_error = [&] {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "download deadline of %.0f s passed (%.0f s + %lld announced bytes at %.0f "
                    "bytes/s) with %lld of them received",
                    budget_s, 6 * stall_s, static_cast<long long>(meta.size), min_rate,
                    static_cast<long long>(written));
      return Error(ErrorKind::kNetwork, shown,
                   std::string(buf) + "; run the command again to resume");
    };
    for (;;) {
      if (written == meta.size && meta.size > 0) break;  // an earlier run got everything
      const double left_s =
          std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left_s <= 0) throw deadline_error();
      http::Request req;
      req.url = meta.location;
      req.follow_redirects = true;
      if (same_origin) req.bearer_token = token_;
      req.connect_timeout_s = 10;
      req.stall_timeout_s = stall_s;
      req.timeout_s = std::max(0.001, left_s);
      const std::int64_t resume_from = written;
      if (resume_from > 0)
        req.headers.push_back({"Range", "bytes=" + std::to_string(resume_from) + "-"});
      bool first_chunk = true;
      bool bad_content = false;  // set when the sink refuses what the server sent
      req.sink = [&](std::string_view chunk, const http::Response& h) {
        if (first_chunk) {
          first_chunk = false;
          if (resume_from > 0 && h.status == 200) {
            restart();  // the server ignored the Range: take the whole file from the start
          } else if (h.status == 206) {
            const std::string range = h.header("content-range");
            const std::string expect = "bytes " + std::to_string(resume_from) + "-";
            if (range.rfind(expect, 0) != 0) {
              bad_content = true;
              throw Error(ErrorKind::kNetwork, shown,
                          "server resumed at the wrong offset (Content-Range: " +
                              short_text(range, 60) + ", expected " + expect + "...)");
            }
          }
        }
        const char* p = chunk.data();
        std::size_t left = chunk.size();
        while (left > 0) {
          const ssize_t n = ::write(fd, p, left);
          if (n < 0) {
            if (errno == EINTR) continue;
            throw io_error("write failed");
          }
          p += n;
          left -= static_cast<std::size_t>(n);
        }
        written += static_cast<std::int64_t>(chunk.size());
        if (written > meta.size) {
          bad_content = true;
          throw Error(
              ErrorKind::kNetwork, shown,
              "the server sent more than the announced " + std::to_string(meta.size) + " bytes");
        }
        progress.set(written);
      };
      http::Response r;
      try {
        r = http::perform(req);
      } catch (const Error& e) {
        if (bad_content) {
          // Not a transient transport problem: what we have cannot be trusted, start over.
          restart();
          throw Error(ErrorKind::kNetwork, e.subject(),
                      e.cause() + "; the partial file was deleted");
        }
        if (std::chrono::steady_clock::now() >= deadline) throw deadline_error();
        if (e.kind() == ErrorKind::kNetwork && retries_left-- > 0) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          continue;  // resume from what has been written
        }
        if (e.kind() == ErrorKind::kNetwork) {
          throw Error(ErrorKind::kNetwork, e.subject(),
                      e.cause() + " after " + std::to_string(written) + " of " +
                          std::to_string(meta.size) + " bytes; run the command again to resume");
        }
        throw;
      }
      if (r.status == 416 && !restarted_on_416) {
        // Range not satisfiable: what we have does not fit this file; fetch it whole.
        restarted_on_416 = true;
        restart();
        continue;
      }
      if (r.status >= 500 || r.status == 429) {
        if (retries_left-- > 0) {
          std::this_thread::sleep_for(std::chrono::seconds(1));
          continue;
        }
      }
      if (r.status < 200 || r.status >= 300)
        throw_http_error(r, meta.location, filename, meta.commit);
      break;
    }
    progress.finish();
    if (::fsync(fd) != 0) throw io_error("cannot sync");
    if (written != meta.size) {
      const std::int64_t received = written;  // before restart() sets it to 0
      restart();
      throw Error(ErrorKind::kNetwork, shown,
                  "received " + std::to_string(received) + " bytes, but the Hub announced " +
                      std::to_string(meta.size) +
                      "; the partial file was deleted, run the command again");
    }
    verify(incomplete, meta.etag, filename);
    std::error_code ec;
    fs::rename(incomplete, blob, ec);
    if (ec)
      throw Error(ErrorKind::kIo, blob.string(),
                  "cannot move the download into place: " + ec.message());
  }

  void verify(const fs::path& file, const std::string& etag, const std::string& filename) {
    std::string actual;
    std::string algorithm;
    if (is_sha256(etag)) {  // an LFS file: the etag is the sha256 of the content
      actual = sha256_file(file);
      algorithm = "sha256";
    } else if (is_commit_hash(etag)) {  // a git-stored file: the etag is its git blob id
      actual = git_blob_sha1_file(file);
      algorithm = "git sha1";
    } else {
      return;  // an etag we cannot check against
    }
    if (actual == etag) return;
    std::error_code ec;
    fs::remove(file, ec);
    throw Error(ErrorKind::kNetwork, repo_id_ + "/" + filename,
                "downloaded file is corrupt: its " + algorithm + " is " + actual +
                    " but the Hub announced " + etag +
                    "; the download was deleted, run the command again");
  }

  std::string repo_id_;
  HubOptions options_;
  fs::path cache_;
  fs::path storage_;
  std::string endpoint_;
  std::optional<std::string> token_;
  bool offline_ = false;
  bool network_failed_ = false;
  std::vector<std::string> warnings_;
};

std::vector<std::string> shard_files(const fs::path& index_path) {
  std::vector<std::string> files;
  for (const auto& [shard, tensors] :
       parse_shard_index(read_text_file(index_path), index_path.string()))
    files.push_back(shard);
  return files;
}

}  // namespace

fs::path hf_home() {
  if (auto v = env("HF_HOME")) return expand_user(*v);
  if (auto xdg = env("XDG_CACHE_HOME")) return expand_user(*xdg) / "huggingface";
  return home_dir() / ".cache" / "huggingface";
}

fs::path hub_cache_dir() {
  if (auto v = env("HF_HUB_CACHE")) return expand_user(*v);
  if (auto v = env("HUGGINGFACE_HUB_CACHE")) return expand_user(*v);
  return hf_home() / "hub";
}

std::string hub_endpoint() {
  std::string e = env("HF_ENDPOINT").value_or("https://huggingface.co");
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

bool hub_offline() {
  auto v = env("HF_HUB_OFFLINE");
  if (!v) return false;
  std::string s = trim(*v);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s == "1" || s == "ON" || s == "YES" || s == "TRUE";
}

bool is_repo_id(const std::string& text) {
  if (text.size() > 96) return false;
  // name, or org/name
  const auto slash = text.find('/');
  const bool names_ok = slash == std::string::npos
                            ? is_name(text)
                            : is_name(std::string_view(text).substr(0, slash)) &&
                                  is_name(std::string_view(text).substr(slash + 1));
  if (!names_ok) return false;
  if (text.find("--") != std::string::npos || text.find("..") != std::string::npos) return false;
  const char first = text.front();
  const char last = text.back();
  return first != '-' && first != '.' && last != '-' && last != '.';
}

std::string repo_folder_name(const std::string& repo_id) {
  std::string out = "models";
  std::size_t start = 0;
  for (;;) {
    const auto slash = repo_id.find('/', start);
    out += "--" + repo_id.substr(start, slash - start);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

std::optional<std::string> find_token(const HubOptions& options) {
  if (options.token_file) {
    const std::string token = trim(read_text_file(*options.token_file));
    if (token.empty())
      throw Error(ErrorKind::kAuth, options.token_file->string(), "the token file is empty");
    return token;
  }
  if (auto t = env("HF_TOKEN")) {
    if (auto s = trim(*t); !s.empty()) return s;
  }
  if (auto t =
          env("HUGGING_FACE_HUB_TOKEN")) {  // the older name, still honoured by huggingface_hub
    if (auto s = trim(*t); !s.empty()) return s;
  }
  const fs::path path =
      env("HF_TOKEN_PATH") ? expand_user(*env("HF_TOKEN_PATH")) : hf_home() / "token";
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    try {
      if (auto s = trim(read_text_file(path)); !s.empty()) return s;
    } catch (const Error&) {
    }
  }
  return std::nullopt;
}

fs::path resolve_file(const std::string& repo_id, const std::string& filename,
                      const HubOptions& options) {
  if (!is_repo_id(repo_id)) {
    throw Error(ErrorKind::kConfig, repo_id,
                "not a Hugging Face model id like google/vit-base-patch16-224");
  }
  HubSession hub(repo_id, options);
  std::string revision = options.revision;
  auto path = hub.fetch(filename, revision);
  if (!path) {
    throw Error(ErrorKind::kNotFound, repo_id,
                "the repository has no " + filename + " at revision '" + options.revision + "'");
  }
  return *path;
}

namespace {

// config.json of a CLIPModel (model_type "clip"); a config that does not parse is left for the
// checkpoint loader to report.
bool is_clip_config(const fs::path& config) {
  try {
    const auto j = nlohmann::json::parse(read_text_file(config));
    return j.is_object() && j.value("model_type", std::string()) == "clip";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

ResolvedModel resolve_model(const std::string& model, const HubOptions& options) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return ResolvedModel{model, model, "", {}};
  if (!is_repo_id(model)) {
    throw Error(ErrorKind::kNotFound, model,
                "no such model directory (and not a Hugging Face model id like "
                "google/vit-base-patch16-224)");
  }
  if (options.revision.empty()) throw Error(ErrorKind::kConfig, model, "empty --revision");
  HubSession hub(model, options);
  std::string revision = options.revision;
  const auto require = [&](const std::string& filename) {
    auto path = hub.fetch(filename, revision);
    if (!path) {
      throw Error(ErrorKind::kNotFound, model,
                  "the repository has no " + filename + " at revision '" + options.revision + "'");
    }
    return *path;
  };
  const fs::path config = require("config.json");
  require("preprocessor_config.json");
  if (is_clip_config(config)) {
    // A CLIP model tokenizes its candidate labels: the files CLIPTokenizer reads (the fast
    // tokenizer's tokenizer.json only when vocab.json + merges.txt are not there). A repository
    // without any is left for the tokenizer to report, naming the files it looked for.
    for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"})
      hub.fetch(name, revision);
    const bool bpe_files = hub.fetch("vocab.json", revision).has_value() &&
                           hub.fetch("merges.txt", revision).has_value();
    if (!bpe_files) hub.fetch("tokenizer.json", revision);
  }
  if (!hub.fetch("model.safetensors", revision)) {
    auto index = hub.fetch("model.safetensors.index.json", revision);
    if (!index) {
      throw Error(
          ErrorKind::kNotFound, model,
          "the repository has neither model.safetensors nor model.safetensors.index.json at "
          "revision '" +
              options.revision + "' (binscan reads safetensors weights only)");
    }
    for (const auto& shard : shard_files(*index)) require(shard);
  }
  return ResolvedModel{hub.storage() / "snapshots" / revision, model, revision, hub.warnings()};
}

}  // namespace binscan

#include "support/fake_hub.h"

#include <httplib.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <stdexcept>

namespace binscan::test {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string digest_hex(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < len; ++i) {
    s += digits[out[i] >> 4];
    s += digits[out[i] & 15];
  }
  return s;
}

}  // namespace

std::string RecordedRequest::header(const std::string& lower_name) const {
  const auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

std::string sha256_hex_of(const std::string& data) { return digest_hex(EVP_sha256(), data); }

std::string git_sha1_of(const std::string& data) {
  std::string blob = "blob " + std::to_string(data.size());
  blob.push_back('\0');
  return digest_hex(EVP_sha1(), blob + data);
}

// --- HttpServer ----------------------------------------------------------------------------

HttpServer::HttpServer() : server_(std::make_unique<httplib::Server>()) {
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("cannot bind a test server on 127.0.0.1");
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    record(req);
    return httplib::Server::HandlerResponse::Unhandled;
  });
}

void HttpServer::start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HttpServer::~HttpServer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string HttpServer::url(const std::string& host) const {
  return "http://" + host + ":" + std::to_string(port_);
}

void HttpServer::record(const httplib::Request& req) {
  RecordedRequest r;
  r.method = req.method;
  r.path = req.path;
  for (const auto& [name, value] : req.headers) r.headers[lower(name)] = value;
  r.body_size = req.body.size();
  if (r.body_size == 0 && req.has_header("Content-Length")) {
    r.body_size = static_cast<std::size_t>(std::stoull(req.get_header_value("Content-Length")));
  }
  r.at = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  requests_.push_back(std::move(r));
}

std::vector<RecordedRequest> HttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool HttpServer::wait_for_stop(double seconds) {
  std::unique_lock lock(mutex_);
  return stop_cv_.wait_for(lock, std::chrono::duration<double>(seconds),
                           [this] { return stopping_; });
}

// --- FakeHub -------------------------------------------------------------------------------

FakeHub::FakeHub() {
  hub_.server().Get(
      R"(/(.+)/resolve/([^/]+)/(.+))",
      [this](const httplib::Request& req, httplib::Response& res) { handle_resolve(req, res); });
  hub_.start();
}

FakeHub::~FakeHub() = default;

void FakeHub::add_commit(const std::string& repo_id, const Commit& commit) {
  std::lock_guard lock(mutex_);
  repos_[repo_id].commits[commit.hash] = commit;
}

void FakeHub::set_branch(const std::string& repo_id, const std::string& branch,
                         const std::string& hash) {
  std::lock_guard lock(mutex_);
  repos_[repo_id].branches[branch] = hash;
}

void FakeHub::enable_cdn() {
  cdn_ = std::make_unique<HttpServer>();
  cdn_->server().Get(R"(/blobs/([0-9a-f]{64}))",
                     [this](const httplib::Request& req, httplib::Response& res) {
                       const std::string* content = find_blob(req.matches[1]);
                       if (!content) {
                         res.status = 404;
                         return;
                       }
                       serve_lfs(*content, req, res);
                     });
  cdn_->start();
}

std::vector<RecordedRequest> FakeHub::cdn_requests() const {
  return cdn_ ? cdn_->requests() : std::vector<RecordedRequest>{};
}

bool FakeHub::is_lfs(const std::string& name, const std::string& content) const {
  return content.size() >= lfs_threshold || name.ends_with(".safetensors");
}

const std::string* FakeHub::find_blob(const std::string& sha) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, repo] : repos_) {
    for (const auto& [hash, commit] : repo.commits) {
      for (const auto& [name, content] : commit.files) {
        if (is_lfs(name, content) && sha256_hex_of(content) == sha) return &content;
      }
    }
  }
  return nullptr;
}

void FakeHub::handle_resolve(const httplib::Request& req, httplib::Response& res) {
  const std::string repo_id = req.matches[1];
  const std::string revision = req.matches[2];
  const std::string filename = req.matches[3];
  if (broken) {
    res.status = 500;
    res.set_content("Internal Server Error", "text/plain");
    return;
  }
  if (required_token && req.get_header_value("Authorization") != "Bearer " + *required_token) {
    res.status = 401;
    res.set_header("X-Error-Code", "RepoNotFound");
    res.set_header("X-Error-Message", "Invalid username or password.");
    return;
  }
  if (gated) {
    res.status = 403;
    res.set_header("X-Error-Code", "GatedRepo");
    res.set_header("X-Error-Message", "Access to model " + repo_id +
                                          " is restricted and you are not in the authorized list.");
    return;
  }
  std::string content;
  std::string commit_hash;
  {
    std::lock_guard lock(mutex_);
    const auto repo = repos_.find(repo_id);
    if (repo == repos_.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      return;
    }
    commit_hash = revision;
    if (auto b = repo->second.branches.find(revision); b != repo->second.branches.end()) {
      commit_hash = b->second;
    }
    const auto commit = repo->second.commits.find(commit_hash);
    if (commit == repo->second.commits.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      return;
    }
    res.set_header("X-Repo-Commit", commit_hash);
    const auto file = commit->second.files.find(filename);
    if (file == commit->second.files.end()) {
      res.status = 404;
      res.set_header("X-Error-Code", "EntryNotFound");
      return;
    }
    content = file->second;
  }
  if (!is_lfs(filename, content)) {
    res.set_header("ETag", "\"" + git_sha1_of(content) + "\"");
    res.set_content(content, "text/plain; charset=utf-8");
    return;
  }
  const std::string sha = sha256_hex_of(content);
  res.set_header("X-Linked-Etag", "\"" + sha + "\"");
  res.set_header("X-Linked-Size", std::to_string(content.size() + announce_extra_bytes));
  res.set_header(
      "ETag",
      "\"" + git_sha1_of("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha) + "\"");
  if (cdn_) {
    // Like the Hub: a signed CDN URL; the signature is a secret of its own.
    res.status = 302;
    res.set_header("Location", cdn_->url("localhost") + "/blobs/" + sha + "?X-Amz-Signature=cafe");
    return;
  }
  serve_lfs(content, req, res);
}

void FakeHub::serve_lfs(const std::string& content, const httplib::Request& req,
                        httplib::Response& res) {
  bool drop = false;
  if (req.method == "GET") {
    ++lfs_gets_;
    std::lock_guard lock(mutex_);
    drop = drop_after_bytes >= 0 && lfs_get_count_[sha256_hex_of(content)]++ == 0;
  }
  auto data = std::make_shared<std::string>(content);
  if (corrupt_lfs && !data->empty()) (*data)[data->size() / 2] ^= 0x55;
  const long drop_at = drop ? drop_after_bytes : -1;
  const int delay = piece_delay_ms;
  res.set_content_provider(
      data->size(), "application/octet-stream",
      [data, drop_at, delay](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        std::size_t n = std::min<std::size_t>(length, 64 * 1024);
        if (drop_at >= 0 && offset + n > static_cast<std::size_t>(drop_at)) {
          // Send what is allowed, then fail: the server closes the connection mid-file.
          if (static_cast<std::size_t>(drop_at) > offset)
            sink.write(data->data() + offset, drop_at - offset);
          return false;
        }
        if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        return sink.write(data->data() + offset, n);
      });
}

// --- FakeInference ----------------------------------------------------------------------------

FakeInference::FakeInference() {
  server_.server().Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    Reply reply;
    {
      std::lock_guard lock(mutex_);
      bodies_.push_back(req.body);
      if (!replies_.empty()) {
        reply = replies_[std::min(next_, replies_.size() - 1)];
        ++next_;
      }
    }
    const int now = ++in_flight_;
    for (int seen = max_in_flight_.load();
         now > seen && !max_in_flight_.compare_exchange_weak(seen, now);) {
    }
    if (reply.never_answer) {
      server_.wait_for_stop(120);
      --in_flight_;
      return;
    }
    if (reply.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(reply.delay_ms));
    --in_flight_;
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    res.set_content(reply.body, "application/json");
  });
  server_.start();
}

std::vector<std::string> FakeInference::bodies() const {
  std::lock_guard lock(mutex_);
  return bodies_;
}

void FakeInference::script(std::vector<Reply> replies) {
  std::lock_guard lock(mutex_);
  replies_ = std::move(replies);
  next_ = 0;
}

std::string FakeInference::url(const std::string& path) const { return server_.url() + path; }

std::string FakeInference::predictions_json(
    const std::vector<std::pair<std::string, double>>& preds) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [label, score] : preds) out.push_back({{"label", label}, {"score", score}});
  return out.dump();
}

std::vector<std::string> hub_test_env(const std::string& hf_home, const std::string& endpoint,
                                      const std::string& token) {
  return {"HF_HOME=" + hf_home,
          "HF_ENDPOINT=" + endpoint,
          "HF_HUB_CACHE=",
          "HF_TOKEN=" + token,
          "HUGGING_FACE_HUB_TOKEN=",
          "HF_HUB_OFFLINE=",
          "http_proxy=",
          "https_proxy=",
          "HTTP_PROXY=",
          "HTTPS_PROXY="};
}

}  // namespace binscan::test

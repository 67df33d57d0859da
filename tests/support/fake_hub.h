// Local stand-ins for the Hugging Face Hub's resolve endpoint and the Inference API, served with
// cpp-httplib on 127.0.0.1 (ephemeral ports) from a thread of the test process. They behave as
// the real services do where binscan depends on it (headers X-Repo-Commit, X-Linked-Etag,
// X-Linked-Size, ETag, X-Error-Code; LFS files redirected to a CDN on another host; Range
// requests) and can misbehave on demand (401, gated 403, dropped connections, corrupt data,
// 503 loading, 429, 500s, silence). Every request is recorded for the tests to inspect.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace binscan::test {

struct RecordedRequest {
  std::string method;
  std::string path;                            // without query
  std::map<std::string, std::string> headers;  // names lower-cased
  std::size_t body_size = 0;  // as announced by Content-Length (recorded before the body arrives)
  std::chrono::steady_clock::time_point at;  // arrival
  std::string header(const std::string& lower_name) const;
};

// One cpp-httplib server on 127.0.0.1 with a port chosen by the OS, running until destroyed.
class HttpServer {
 public:
  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:PORT"; host "localhost" gives another origin for the same server.
  std::string url(const std::string& host = "127.0.0.1") const;
  httplib::Server& server() { return *server_; }

  std::vector<RecordedRequest> requests() const;
  void record(const httplib::Request& req);
  // Handlers that wait "forever" return when the server stops.
  bool wait_for_stop(double seconds);
  void start();  // after routes are registered

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::vector<RecordedRequest> requests_;
};

std::string sha256_hex_of(const std::string& data);
std::string git_sha1_of(const std::string& data);  // sha1("blob N\0" + data)

// The Hub's /{org}/{name}/resolve/{revision}/{file}.
class FakeHub {
 public:
  struct Commit {
    std::string hash;                          // 40 hex digits
    std::map<std::string, std::string> files;  // name -> content
  };

  FakeHub();
  ~FakeHub();

  // Files of at least `lfs_threshold` bytes, and every *.safetensors, are LFS files: their etag
  // is the sha256 of the content and, when a CDN is enabled, they are redirected there.
  void add_commit(const std::string& repo_id, const Commit& commit);
  void set_branch(const std::string& repo_id, const std::string& branch, const std::string& hash);
  std::size_t lfs_threshold = 1024;

  // LFS content is served by a second server at http://localhost:PORT (another origin).
  void enable_cdn();

  std::optional<std::string> required_token;  // requests without it get 401 RepoNotFound
  bool gated = false;                         // 403 GatedRepo even with the token
  // The first GET of each LFS blob sends this many bytes then closes the connection.
  long drop_after_bytes = -1;
  // LFS content is served with one byte changed (the etag stays that of the true content).
  bool corrupt_lfs = false;
  // Sleep between 64 KiB pieces of LFS content, so concurrent downloads overlap.
  int piece_delay_ms = 0;
  // X-Linked-Size announces this many bytes more than the LFS content has.
  std::size_t announce_extra_bytes = 0;
  // Hub answers HTTP 500 to everything.
  bool broken = false;

  std::string endpoint() const { return hub_.url(); }
  std::vector<RecordedRequest> hub_requests() const { return hub_.requests(); }
  std::vector<RecordedRequest> cdn_requests() const;
  int lfs_gets() const { return lfs_gets_.load(); }

 private:
  struct Repo {
    std::map<std::string, Commit> commits;
    std::map<std::string, std::string> branches;
  };
  void handle_resolve(const httplib::Request& req, httplib::Response& res);
  void serve_lfs(const std::string& content, const httplib::Request& req, httplib::Response& res);
  bool is_lfs(const std::string& name, const std::string& content) const;
  const std::string* find_blob(const std::string& sha) const;

  mutable std::mutex mutex_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, int> lfs_get_count_;
  std::atomic<int> lfs_gets_{0};
  // Last, so the servers (whose handlers use the members above) stop first.
  HttpServer hub_;
  std::unique_ptr<HttpServer> cdn_;
};

// The Inference API: POST of image bytes answered by a script of responses, one per request
// (the last one repeats).
class FakeInference {
 public:
  struct Reply {
    Reply() = default;
    Reply(int s, std::string b, std::map<std::string, std::string> h = {})
        : status(s), body(std::move(b)), headers(std::move(h)) {}
    int status = 200;
    std::string body = "[]";
    std::map<std::string, std::string> headers;
    bool never_answer = false;  // hold the request until the server stops
    int delay_ms = 0;           // think this long before answering
  };
  FakeInference();
  void script(std::vector<Reply> replies);
  std::string url(const std::string& path = "/models/org/model") const;
  std::vector<RecordedRequest> requests() const { return server_.requests(); }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::vector<std::string> bodies() const;  // of answered requests, in the order handled

  static std::string predictions_json(const std::vector<std::pair<std::string, double>>& preds);

 private:
  mutable std::mutex mutex_;
  std::vector<Reply> replies_;
  std::vector<std::string> bodies_;
  std::size_t next_ = 0;
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  HttpServer server_;  // last: stops before the members its handler uses are destroyed
};

// The environment of a binscan process under test that talks to a fake Hub at `endpoint`: its own
// HF_HOME, no cache override, no offline mode, no proxies, and `token` as HF_TOKEN (empty: none).
std::vector<std::string> hub_test_env(const std::string& hf_home, const std::string& endpoint,
                                      const std::string& token);

}  // namespace binscan::test

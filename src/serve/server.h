// Part of the serve layer (see serve/api.h).
//
// The HTTP side of `binscan serve` (cpp-httplib, Debian's libcpp-httplib-dev: the library
// llama.cpp's server is built on; a small, well-kept header with thread-pool serving, timeouts
// and body limits, and no other dependency). Routes:
//   POST /models/{id}, POST /hf-inference/models/{id}   the Inference API (serve/api.h)
//   POST /binscan/analyze      every model at once, for the page: top-5, bin verdict, the
//                              model's view of the photo, the photo's size and GPS/bearing
//   GET  /                     the page (serve/page.h)
//   GET  /health, GET /models  liveness; what is loaded
//   GET  /survey, /survey/map  the survey's report and map, when a database is given
// Nothing is ever served from disk by URL path.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "serve/service.h"

namespace binscan::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see HttpServer::bind)
  // When set, every request but GET / and GET /health must carry "Authorization: Bearer TOKEN".
  std::optional<std::string> token;
  std::size_t max_body_bytes = 50u << 20;
  int http_threads = 16;      // connections served at once
  int max_queued_conns = 64;  // accepted connections waiting for a thread; beyond, accept waits
  std::chrono::seconds io_timeout{30};  // reading a request / writing a reply
  std::chrono::seconds keep_alive{5};   // an idle kept-alive connection is closed after this
  bool log_requests = true;             // one line per request on stderr
  // The survey's pages (rendered when asked); empty: no survey (GET /survey is 404).
  std::function<std::string()> survey_report;
  std::function<std::string()> survey_map;
  std::string survey_name;  // shown on the page
};

class HttpServer {
 public:
  HttpServer(InferenceService& service, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port and returns the port (the one chosen, for port 0). Throws Error(kConfig)
  // naming the address when it cannot (in use, no such address, no permission).
  int bind();
  // Serves until stop(); returns once every request in flight has been answered.
  void run();
  // Thread-safe; may be called before run() has started (it then returns at once).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace binscan::serve

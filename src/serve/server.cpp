#include "serve/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "serve/api.h"
#include "serve/page.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/text.h"

namespace binscan::serve {
namespace {

using Clock = std::chrono::steady_clock;

// httplib's own pool queues connections without limit; this one makes the accepting thread wait
// when `max_queued` connections are already waiting for a handler thread, so the kernel's listen
// backlog, not our memory, holds the excess.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(int threads, int max_queued) : max_queued_(static_cast<std::size_t>(max_queued)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    lock.unlock();
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mutex_);
      shutdown_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        ready_.wait(lock, [&] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down, nothing left
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();
    }
  }
  std::size_t max_queued_;
  std::vector<std::thread> threads_;
  std::deque<std::function<void()>> jobs_;
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  bool shutdown_ = false;
};

thread_local Clock::time_point request_start{};

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

void send_error(httplib::Response& res, int status, std::string_view message) {
  send_json(res, status, error_body(message));
}

// The body, read through httplib's content reader: unlike its default reading, this takes any
// Content-Type as bytes (curl --data-binary says application/x-www-form-urlencoded, which httplib
// would otherwise parse as a form and refuse beyond 8 KiB). The size limit still applies.
// A chunked body has no Content-Length for httplib to check up front: counted here.
std::optional<std::string> read_body(const httplib::ContentReader& reader, httplib::Response& res,
                                     std::size_t max_bytes) {
  std::string body;
  bool too_large = false;
  const bool ok = reader([&](const char* data, std::size_t n) {
    if (body.size() + n > max_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (!ok || too_large) {
    // httplib sets 413 itself when a Content-Length is over the limit.
    if (too_large) res.status = 413;
    if (res.status < 400) res.status = 400;
    // The rest of the body is still on the wire: this connection cannot carry another request.
    res.set_header("Connection", "close");
    return std::nullopt;
  }
  return body;
}

nlohmann::ordered_json photo_json(const DecodedImage& d) {
  nlohmann::ordered_json p{{"format", std::string(format_name(d.format))},
                           {"width", d.display_width()},
                           {"height", d.display_height()},
                           {"orientation", d.exif.orientation}};
  if (d.exif.gps) {
    p["gps"] = {{"lat", d.exif.gps->latitude}, {"lon", d.exif.gps->longitude}};
  } else {
    p["gps"] = nullptr;
  }
  p["bearing"] = d.exif.bearing_deg ? nlohmann::ordered_json(*d.exif.bearing_deg) : nullptr;
  if (d.exif.bearing_ref) p["bearing_ref"] = std::string(1, *d.exif.bearing_ref);
  return p;
}

}  // namespace

struct HttpServer::Impl {
  Impl(InferenceService& s, ServerOptions o) : service(s), options(std::move(o)) {}

  InferenceService& service;
  ServerOptions options;
  httplib::Server http;
  std::atomic<bool> stopping{false};
  bool bound = false;

  // A parsed request's options for model `m` (not its image).
  static InferenceRequest inference_request(int m, const ClassificationRequest& parsed) {
    InferenceRequest r;
    r.model = m;
    r.top_k = parsed.top_k;
    r.top_k_given = parsed.top_k_given;
    r.function = parsed.function;
    if (parsed.candidate_labels) r.candidate_labels = *parsed.candidate_labels;
    if (parsed.hypothesis_template) r.hypothesis_template = *parsed.hypothesis_template;
    return r;
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    if (!options.token) return true;
    if (bearer_token_matches(req.get_header_value("Authorization"), *options.token)) return true;
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401,
               req.has_header("Authorization")
                   ? "Invalid credentials in Authorization header"
                   : "Authorization header is required: send \"Authorization: Bearer <token>\"");
    return false;
  }

  // A reply to 503 when the queue is full: how long to wait, in whole seconds.
  void refuse_busy(httplib::Response& res) const {
    res.set_header("Retry-After", "1");
    send_error(res, 503,
               "too many requests are waiting (" + std::to_string(service.pending()) +
                   "); retry in a moment");
  }

  // The body read and parsed as the API's request; nullopt when `res` already holds the error.
  std::optional<ClassificationRequest> read_request(const httplib::Request& req,
                                                    httplib::Response& res,
                                                    const httplib::ContentReader& reader) const {
    const auto body = read_body(reader, res, options.max_body_bytes);
    if (!body) return std::nullopt;
    try {
      return parse_classification_request(*body, req.get_header_value("Content-Type"));
    } catch (const ApiError& e) {
      send_error(res, e.status(), e.what());
      return std::nullopt;
    }
  }

  void classify(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader, const std::string& name) {
    if (!authorized(req, res)) return;
    const auto model = service.find_model(name);
    if (!model) {
      std::string loaded;
      for (const auto& m : service.models()) loaded += (loaded.empty() ? "" : ", ") + m.name;
      send_error(res, 404, "Model " + name + " is not loaded here (loaded: " + loaded + ")");
      return;
    }
    auto request = read_request(req, res, reader);
    if (!request) return;
    ClassificationRequest& parsed = *request;
    const ServedModel& served = service.models()[static_cast<std::size_t>(*model)];
    if (served.zero_shot && !parsed.candidate_labels) {
      send_error(res, 400,
                 name +
                     " is a zero-shot (CLIP) model: send JSON {\"inputs\": base64 image, "
                     "\"parameters\": {\"candidate_labels\": [\"a trash bin\", ...]}}");
      return;
    }
    if (!served.zero_shot && (parsed.candidate_labels || parsed.hypothesis_template)) {
      send_error(res, 400,
                 "candidate_labels and hypothesis_template are for zero-shot (CLIP) models; " +
                     name + " is an image classifier with its own labels");
      return;
    }
    InferenceRequest r = inference_request(*model, parsed);
    r.image = std::move(parsed.image);
    auto future = service.submit(std::move(r));
    if (!future) {
      refuse_busy(res);
      return;
    }
    const InferenceReply reply = future->get();
    res.set_header("x-compute-type", "cpu");
    res.set_header("x-compute-time", std::to_string(reply.ms / 1000.0));
    switch (reply.status) {
      case InferenceReply::Status::kOk:
        send_json(res, 200, predictions_body(reply.top));
        return;
      case InferenceReply::Status::kBadImage:
        send_error(res, 400, reply.error);
        return;
      case InferenceReply::Status::kFailed:
        send_error(res, 500, reply.error);
        return;
    }
  }

  // Every model on one photo, for the page.
  void analyze(const httplib::Request& req, httplib::Response& res,
               const httplib::ContentReader& reader) {
    if (!authorized(req, res)) return;
    auto request = read_request(req, res, reader);
    if (!request) return;
    ClassificationRequest& parsed = *request;
    std::vector<std::future<InferenceReply>> futures;
    // The page's labels are for its CLIP models; one without labels says so in its card.
    std::vector<std::optional<std::string>> skipped(service.models().size());
    for (std::size_t m = 0; m < service.models().size(); ++m) {
      if (service.models()[m].zero_shot && !parsed.candidate_labels) {
        skipped[m] = "a zero-shot (CLIP) model: type its candidate labels, one per line";
        continue;
      }
      InferenceRequest r = inference_request(static_cast<int>(m), parsed);
      r.image = parsed.image;
      r.want_view = true;
      auto f = service.submit(std::move(r));
      if (!f) {
        for (auto& earlier : futures) earlier.wait();  // never leave a reply unread
        refuse_busy(res);
        return;
      }
      futures.push_back(std::move(*f));
    }
    nlohmann::ordered_json models = nlohmann::ordered_json::array();
    nlohmann::ordered_json photo = nullptr;
    std::optional<std::string> bad;
    std::size_t next = 0;
    for (std::size_t m = 0; m < service.models().size(); ++m) {
      const ServedModel& served = service.models()[m];
      if (skipped[m]) {
        models.push_back({{"model", served.name}, {"error", *skipped[m]}});
        continue;
      }
      const InferenceReply reply = futures[next++].get();
      if (reply.photo && photo.is_null()) photo = photo_json(*reply.photo);
      nlohmann::ordered_json one{{"model", served.name},
                                 {"revision", served.classifier->info().revision},
                                 {"ms", reply.ms}};
      if (reply.status == InferenceReply::Status::kBadImage && !reply.photo) {
        bad = reply.error;  // not an image at all: one 400 for the request
        continue;
      }
      if (reply.status != InferenceReply::Status::kOk) {
        one["error"] = reply.error;
      } else {
        nlohmann::ordered_json preds = nlohmann::ordered_json::array();
        for (const auto& p : reply.top) preds.push_back({{"label", p.label}, {"score", p.score}});
        one["predictions"] = preds;
        if (reply.bin) {
          one["bin_score"] = reply.bin->score;
          one["bin_verdict"] = reply.bin->verdict;
          one["bin_rank"] = reply.bin->rank ? nlohmann::ordered_json(*reply.bin->rank) : nullptr;
          one["threshold"] = reply.bin->threshold;
          one["bin_labels"] = reply.bin_labels;
        }
      }
      if (!reply.view_png.empty())
        one["view"] = "data:image/png;base64," + base64_encode(reply.view_png);
      models.push_back(std::move(one));
    }
    if (bad) {
      send_error(res, 400, *bad);
      return;
    }
    send_json(res, 200, json_text(nlohmann::ordered_json{{"photo", photo}, {"models", models}}));
  }

  void models_list(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& m : service.models()) {
      const ModelInfo& info = m.classifier->info();
      out.push_back(
          {{"id", m.name},
           {"source", info.id},
           {"revision", info.revision},
           {"task", m.zero_shot ? "zero-shot-image-classification" : "image-classification"},
           {"labels", info.labels.size()},
           {"bin_labels",
            m.bins ? nlohmann::ordered_json(m.bins->labels) : nlohmann::ordered_json(nullptr)},
           {"url", "/models/" + m.name}});
    }
    send_json(res, 200, json_text(out));
  }

  void survey(const httplib::Request& req, httplib::Response& res,
              const std::function<std::string()>& page) {
    if (!authorized(req, res)) return;
    if (!page) {
      send_error(res, 404, "no survey: start binscan serve with --db FILE");
      return;
    }
    try {
      res.set_content(page(), "text/html; charset=utf-8");
    } catch (const std::exception& e) {
      send_error(res, 500, std::string("the survey could not be read: ") + e.what());
    }
  }

  PageInfo page_info() const {
    PageInfo p;
    for (const auto& m : service.models()) {
      p.models.push_back({m.name, m.classifier->info().revision, m.zero_shot != nullptr});
    }
    p.token_required = options.token.has_value();
    p.survey = static_cast<bool>(options.survey_report);
    p.survey_name = options.survey_name;
    return p;
  }

  void routes() {
    const std::string page = render_page(page_info());
    http.Get("/", [page](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy",
                     "default-src 'none'; img-src 'self' data: blob:; style-src 'unsafe-inline'; "
                     "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
      res.set_content(page, "text/html; charset=utf-8");
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, 200,
                json_text(nlohmann::ordered_json{{"status", "ok"},
                                                 {"models", service.models().size()},
                                                 {"pending", service.pending()},
                                                 {"token_required", options.token.has_value()}}));
    });
    http.Get("/models",
             [this](const httplib::Request& q, httplib::Response& r) { models_list(q, r); });
    http.Post(R"(/(?:hf-inference/)?models/(.+))",
              [this](const httplib::Request& q, httplib::Response& r,
                     const httplib::ContentReader& reader) {
                classify(q, r, reader, q.matches[1].str());
              });
    http.Post("/binscan/analyze",
              [this](const httplib::Request& q, httplib::Response& r,
                     const httplib::ContentReader& reader) { analyze(q, r, reader); });
    http.Get("/survey", [this](const httplib::Request& q, httplib::Response& r) {
      survey(q, r, options.survey_report);
    });
    http.Get("/survey/map", [this](const httplib::Request& q, httplib::Response& r) {
      survey(q, r, options.survey_map);
    });
  }

  void limits() {
    http.new_task_queue = [t = options.http_threads, q = options.max_queued_conns] {
      return new BoundedPool(std::max(1, t), std::max(1, q));  // httplib owns and deletes it
    };
    http.set_payload_max_length(options.max_body_bytes);
    http.set_read_timeout(options.io_timeout);
    http.set_write_timeout(options.io_timeout);
    http.set_keep_alive_timeout(options.keep_alive.count());
    http.set_keep_alive_max_count(1000);
    http.set_tcp_nodelay(true);
    // httplib's default adds SO_REUSEPORT, with which a second server on the same port starts
    // "fine" and silently takes half the connections. SO_REUSEADDR alone still allows a restart
    // while old connections linger in TIME_WAIT.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Every error, ours or httplib's own (413, 404, 400 on a malformed request), as {"error"}.
    http.set_error_handler(
        httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          std::string message = "HTTP error " + std::to_string(res.status);
          if (res.status == 400) message = "malformed HTTP request";
          if (res.status == 404) message = "no such endpoint";
          if (res.status == 405) message = "method not allowed here";
          if (res.status == 413) message = "the request body is larger than the server accepts";
          if (res.status == 414) message = "the request line is too long";
          send_error(res, res.status, message);
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "internal error";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = std::string("internal error: ") + e.what();
          } catch (...) {
          }
          res.body.clear();
          send_error(res, 500, what);
        });
    http.set_pre_routing_handler([](const httplib::Request&, httplib::Response& res) {
      request_start = Clock::now();
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Cache-Control", "no-store");
      return httplib::Server::HandlerResponse::Unhandled;
    });
    if (options.log_requests) {
      // Method, path (never the query), status, time: never a header (the token) or a body.
      http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
        char ms[32] = "-";
        if (request_start != Clock::time_point{}) {
          std::snprintf(
              ms, sizeof ms, "%.1f ms",
              std::chrono::duration<double, std::milli>(Clock::now() - request_start).count());
        }
        request_start = {};
        if (req.method.empty()) {
          // Not a request: bytes left on a connection (e.g. the rest of a refused body).
          std::fprintf(stderr, "serve: (unreadable request) %d\n", res.status);
          return;
        }
        std::fprintf(stderr, "serve: %s %s %d %s\n", terminal_text(req.method).c_str(),
                     terminal_text(req.path).c_str(), res.status, ms);
      });
    }
  }
};

HttpServer::HttpServer(InferenceService& service, ServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {
  impl_->limits();
  impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  const auto& o = impl_->options;
  const std::string where = o.host + ":" + std::to_string(o.port);
  int port = o.port;
  if (o.port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) port = 0;
  } else if (!impl_->http.bind_to_port(o.host, o.port)) {
    port = 0;
  }
  if (port <= 0) {
    throw Error(ErrorKind::kConfig, where,
                "cannot listen here (the port is in use, the address is not this machine's, or "
                "the port needs privileges)");
  }
  impl_->bound = true;
  return port;
}

void HttpServer::run() {
  if (!impl_->bound || impl_->stopping) return;
  impl_->http.listen_after_bind();
}

void HttpServer::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace binscan::serve

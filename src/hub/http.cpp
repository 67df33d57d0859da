#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>

#include "util/error.h"
#include "util/text.h"

namespace binscan::http {
namespace {

constexpr int kMaxRedirects = 10;
// Headers are kept in a map: bound their total too (curl bounds each line at 100 KB).
constexpr std::size_t kMaxHeaderBytes = 256 << 10;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;
using Url = std::unique_ptr<CURLU, UrlDeleter>;

Url parse_url(std::string_view text) {
  global_init();
  Url url(curl_url());
  if (!url) return nullptr;
  const std::string copy(text);
  if (curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), 0) != CURLUE_OK) return nullptr;
  return url;
}

std::string url_part(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

// State of one transfer, reached from curl's C callbacks.
struct Transfer {
  CURL* curl = nullptr;
  const Request* request = nullptr;
  Response response;
  std::exception_ptr sink_error;
  bool status_known = false;
  bool error_body_full = false;  // stopped on purpose: a non-2xx body reached its bound
  std::size_t header_bytes = 0;
};

std::string bytes_text(std::size_t n) {
  return n >= (1u << 20) ? std::to_string(n >> 20) + " MB" : std::to_string(n >> 10) + " KB";
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  const std::string_view line(data, n);
  t->header_bytes += n;
  if (t->header_bytes > kMaxHeaderBytes) {
    t->sink_error = std::make_exception_ptr(
        Error(ErrorKind::kTooLarge, display_url(t->request->url),
              "response headers larger than " + bytes_text(kMaxHeaderBytes)));
    return 0;  // aborts the transfer
  }
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a 100 Continue or a redirect): forget the previous one's headers.
    t->response.headers.clear();
    t->status_known = false;
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  auto name = ascii_lower(trim(line.substr(0, colon)));
  auto value = trim(line.substr(colon + 1));
  auto [it, inserted] = t->response.headers.emplace(name, value);
  if (!inserted) it->second += ", " + value;
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (!t->status_known) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->response.status = status;
    t->status_known = true;
  }
  const bool success = t->response.status >= 200 && t->response.status < 300;
  if (success && t->request->sink) {
    try {
      t->request->sink(std::string_view(data, n), t->response);
    } catch (...) {
      t->sink_error = std::current_exception();
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (!success) {
    // Error bodies are only shown as an excerpt: keep the start, then stop the transfer.
    const std::size_t room = t->request->max_error_body_bytes -
                             std::min(t->request->max_error_body_bytes, t->response.body.size());
    t->response.body.append(data, std::min(n, room));
    if (n > room) {
      t->response.body_truncated = true;
      t->error_body_full = true;
      return 0;
    }
    return n;
  }
  if (t->response.body.size() + n > t->request->max_body_bytes) {
    t->sink_error = std::make_exception_ptr(
        Error(ErrorKind::kTooLarge, display_url(t->request->url),
              "reply larger than " + bytes_text(t->request->max_body_bytes) +
                  " (the limit for this request); refusing to read more"));
    return 0;
  }
  t->response.body.append(data, n);
  return n;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

[[noreturn]] void throw_transport(CURLcode code, const char* errbuf, const Request& request,
                                  const std::string& url) {
  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(code);
  std::string cause;
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      if (request.timeout_s > 0 && detail.find("Operation timed out") != std::string::npos) {
        cause = "no answer within " + seconds_text(request.timeout_s) + " (" + detail + ")";
      } else if (request.stall_timeout_s > 0 && detail.find("too slow") != std::string::npos) {
        cause = "stalled: under 1 byte/s for " + seconds_text(request.stall_timeout_s) + " (" +
                detail + ")";
      } else {
        cause = "timed out (" + detail + ")";
      }
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      cause = "cannot resolve host (" + detail + ")";
      break;
    case CURLE_COULDNT_CONNECT:
      cause = "cannot connect (" + detail + ")";
      break;
    case CURLE_OUT_OF_MEMORY:
      // What curl reports for one header line over its 100 KB limit, far likelier than memory.
      cause =
          "response header too large: curl accepts at most 100 KB per header line (or "
          "memory ran out)";
      break;
    case CURLE_UNSUPPORTED_PROTOCOL:
      cause = "unsupported protocol: binscan speaks only http and https (" + detail + ")";
      break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      cause = "connection lost (" + detail + ")";
      break;
    default:
      cause = detail;
  }
  throw Error(ErrorKind::kNetwork, display_url(url), cause);
}

Response perform_once(const Request& request, const std::string& url, bool send_token) {
  global_init();
  Easy easy(curl_easy_init());
  if (!easy) throw Error(ErrorKind::kInternal, display_url(url), "curl_easy_init failed");
  CURL* c = easy.get();
  Transfer t;
  t.curl = c;
  t.request = &request;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM-based DNS timeouts
  curl_easy_setopt(c, CURLOPT_USERAGENT, "binscan/0.1.0");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // Redirects are followed below, by hand, so the token's destination is decided here.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max(0.001, request.connect_timeout_s) * 1000));
  if (request.timeout_s > 0) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_s * 1000));
  }
  if (request.stall_timeout_s > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     std::max(1L, static_cast<long>(request.stall_timeout_s + 0.5)));
  }

  Slist headers;
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (!next) throw Error(ErrorKind::kInternal, display_url(url), "out of memory");
    (void)headers.release();
    headers.reset(next);
  };
  for (const auto& [name, value] : request.headers) add(name + ": " + value);
  if (send_token && request.bearer_token && !request.bearer_token->empty()) {
    add("Authorization: Bearer " + *request.bearer_token);
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    add("Expect:");  // no 100-continue round trip for image uploads
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  const CURLcode code = curl_easy_perform(c);
  if (t.sink_error) std::rethrow_exception(t.sink_error);
  if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && t.error_body_full))
    throw_transport(code, errbuf, request, url);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
  char* effective = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
  t.response.effective_url = effective ? effective : url;
  if (t.response.status >= 300 && t.response.status < 400) {
    char* target = nullptr;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &target);
    if (target) t.response.redirect_url = target;
  }
  return std::move(t.response);
}

}  // namespace

std::string Response::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

Response perform(const Request& request) {
  std::string url = request.url;
  const std::string token_origin = origin_of(request.url);
  bool send_token = true;
  for (int hop = 0;; ++hop) {
    Response response = perform_once(request, url, send_token);
    const bool redirect = response.status >= 300 && response.status < 400 &&
                          response.status != 304 && !response.redirect_url.empty();
    if (!request.follow_redirects || !redirect) return response;
    if (hop >= kMaxRedirects) {
      throw Error(ErrorKind::kNetwork, display_url(request.url), "too many redirects");
    }
    url = response.redirect_url;
    // A redirect elsewhere than http(s) (file://, ftp://...) is refused at once, not retried.
    const auto scheme = ascii_lower(url.substr(0, url.find(':')));
    if (scheme != "http" && scheme != "https") {
      throw Error(
          ErrorKind::kUnsupported, display_url(request.url),
          "redirected to a " + scheme + ": URL; binscan follows only http and https redirects");
    }
    // Like huggingface_hub and browsers: credentials stay with the origin they were meant for.
    // A CDN's signed URL needs none, and must never receive the user's token.
    if (origin_of(url) != token_origin) send_token = false;
  }
}

std::string display_url(std::string_view url) {
  Url u = parse_url(url);
  if (!u) {
    // Not parsable: drop anything after '?' and any user info we can spot.
    std::string s(url.substr(0, url.find('?')));
    const auto scheme = s.find("://");
    const auto at = s.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
      s.erase(scheme + 3, at - scheme - 2);
    }
    return s;
  }
  std::string out = url_part(u.get(), CURLUPART_SCHEME) + "://" + url_part(u.get(), CURLUPART_HOST);
  const std::string port = url_part(u.get(), CURLUPART_PORT);
  if (!port.empty()) out += ":" + port;
  out += url_part(u.get(), CURLUPART_PATH);
  return out;
}

std::string origin_of(std::string_view url) {
  Url u = parse_url(url);
  if (!u) return "";
  return ascii_lower(url_part(u.get(), CURLUPART_SCHEME)) + "://" +
         ascii_lower(url_part(u.get(), CURLUPART_HOST)) + ":" +
         url_part(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
}

std::string url_quote(std::string_view text, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
        (keep_slash && ch == '/')) {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

std::optional<double> parse_retry_after(const std::string& value) {
  const std::string v = trim(value);
  if (v.empty()) return std::nullopt;
  double seconds = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec == std::errc() && end == v.data() + v.size()) {
    return seconds < 0 ? 0.0 : seconds;
  }
  const std::time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const double delta = std::difftime(when, std::time(nullptr));
  return delta < 0 ? 0.0 : delta;
}

}  // namespace binscan::http

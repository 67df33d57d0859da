// A small synchronous HTTP client over libcurl, shared by the Hub downloader and the remote
// (Inference API) classifier.
//
// Secrets: the bearer token is passed separately from the other headers, is never put in a URL,
// curl's verbose mode is never enabled, and no message built here contains a request header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace binscan::http {

// Default limits of Request (each use may choose its own): JSON API replies are kilobytes.
inline constexpr std::size_t kDefaultMaxBody = std::size_t{16} << 20;       // 16 MB
inline constexpr std::size_t kDefaultMaxErrorBody = std::size_t{64} << 10;  // 64 KB

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the final response; names lower-cased
  std::string body;                            // empty when a sink consumed it
  bool body_truncated = false;  // an error (non-2xx) body cut at Request::max_error_body_bytes
  std::string effective_url;    // after redirects
  std::string redirect_url;     // a 3xx's Location made absolute, else ""

  // The header's value or "" when absent (`name` lower-case).
  std::string header(const std::string& name) const;
};

struct Request {
  std::string method = "GET";  // GET, HEAD or POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // never "Authorization"
  std::optional<std::string> bearer_token;  // sent as "Authorization: Bearer ..." to `url`'s host
  std::span<const std::uint8_t> body;       // POST body
  bool follow_redirects = false;            // the token is never sent to another host
  double connect_timeout_s = 10;
  double timeout_s = 0;        // whole request; 0: no limit
  double stall_timeout_s = 0;  // abort when fewer than 1 byte/s arrives for this long; 0: off
  // The one bound on what a server can make binscan hold in memory (every body read goes through
  // perform()): a 2xx body kept in Response::body larger than max_body_bytes aborts the transfer
  // with Error(kTooLarge) naming the limit; a non-2xx body (only ever shown as an excerpt) is
  // kept up to max_error_body_bytes, the transfer then stopped and body_truncated set.
  std::size_t max_body_bytes = kDefaultMaxBody;
  std::size_t max_error_body_bytes = kDefaultMaxErrorBody;
  // When set, the body of a 2xx response is passed here chunk by chunk instead of being kept in
  // Response::body (error bodies are still kept, capped). `head` has the status and headers.
  // May throw; the transfer is aborted and the exception re-thrown from perform().
  std::function<void(std::string_view chunk, const Response& head)> sink;
};

// Performs the request. Any HTTP status is returned normally; transport failures (DNS,
// connection refused, reset, timeout, truncated body) throw Error(kNetwork) naming the URL
// (without user info or query). Thread-safe: each call uses its own curl handle.
Response perform(const Request& request);

// "scheme://host[:port]/path" — the URL as shown in messages: no credentials, no query string
// (a CDN's query holds a signature).
std::string display_url(std::string_view url);

// "scheme://host:port" with the default port made explicit; "" when `url` is relative.
std::string origin_of(std::string_view url);

// Percent-encodes everything except unreserved characters (and '/' when keep_slash).
std::string url_quote(std::string_view text, bool keep_slash);

// Seconds to wait from a Retry-After header value (delta-seconds or an HTTP date); nullopt if
// absent or unparsable.
std::optional<double> parse_retry_after(const std::string& value);

}  // namespace binscan::http

#include "classify/remote_classifier.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "hub/http.h"
#include "hub/hub.h"
#include "image/decode.h"
#include "util/json.h"
#include "util/text.h"

namespace binscan {
namespace {

constexpr const char* kTokenPage = "https://huggingface.co/settings/tokens";
// Without parameters the API returns its default top 5; asking for more needs the JSON form.
constexpr int kApiDefaultTopK = 5;
constexpr std::size_t kMaxReplyBytes = std::size_t{16} << 20;       // 16 MB
constexpr std::size_t kMaxErrorReplyBytes = std::size_t{64} << 10;  // 64 KB

std::string excerpt(const std::string& body, std::size_t max = 160) {
  std::string s = body.substr(0, max);
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (body.size() > max) s += "...";
  return s;
}

// The "error" text of an API error body ({"error": "..."}), or an excerpt of the body.
std::string server_message(const std::string& body) {
  if (!json_depth_within(body, kMaxJsonDepth)) return excerpt(body);
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    return e.is_string() ? excerpt(e.get<std::string>()) : json_excerpt(e);
  }
  return excerpt(body);
}

double jittered(double seconds) {
  // "Equal jitter": half fixed, half random, so clients that failed together spread out.
  thread_local std::mt19937 gen(std::random_device{}());
  std::uniform_real_distribution<double> dist(0.5, 1.0);
  return seconds * dist(gen);
}

void sleep_for(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", s);
  return buf;
}

}  // namespace

Classification parse_inference_reply(const std::string& body, const std::string& name,
                                     const std::string& shown_url, int top_k) {
  auto malformed = [&](const std::string& why) {
    return Error(ErrorKind::kFormat, name,
                 shown_url + ": malformed answer (" + why + "): " + excerpt(body));
  };
  if (!json_depth_within(body, kMaxJsonDepth)) throw malformed("JSON nested too deep");
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw malformed("not JSON");
  // A batched answer nests the list: [[{...}, ...]].
  if (j.is_array() && j.size() == 1 && j[0].is_array()) j = nlohmann::json(j[0]);
  if (!j.is_array()) throw malformed("expected a list of {label, score}");
  Classification c;
  for (const auto& p : j) {
    if (!p.is_object() || !p.contains("label") || !p.contains("score") || !p["label"].is_string() ||
        !p["score"].is_number()) {
      throw malformed("expected a list of {label, score}");
    }
    Prediction pred;
    pred.label = p["label"].get<std::string>();
    pred.score = p["score"].get<double>();
    if (!std::isfinite(pred.score)) throw malformed("score is not a finite number");
    c.top.push_back(std::move(pred));
  }
  std::stable_sort(c.top.begin(), c.top.end(),
                   [](const Prediction& a, const Prediction& b) { return a.score > b.score; });
  if (top_k >= 0 && c.top.size() > static_cast<std::size_t>(top_k))
    c.top.resize(static_cast<std::size_t>(top_k));
  return c;
}

Classification parse_zero_shot_reply(const std::string& body, const std::string& name,
                                     const std::string& shown_url, int top_k,
                                     const std::vector<std::string>& candidates) {
  Classification c = parse_inference_reply(body, name, shown_url, -1);
  std::vector<float> probabilities(candidates.size(), 0.0f);
  std::vector<bool> seen(candidates.size(), false);
  for (auto& p : c.top) {
    const auto at = std::find(candidates.begin(), candidates.end(), p.label);
    const auto i = static_cast<std::size_t>(at - candidates.begin());
    if (at == candidates.end() || seen[i]) {
      throw Error(
          ErrorKind::kFormat, name,
          shown_url + ": the answer's label \"" + excerpt(p.label) + "\" is " +
              (at == candidates.end() ? "not one of the candidate labels sent" : "given twice"));
    }
    seen[i] = true;
    p.class_id = static_cast<int>(i);
    probabilities[i] = static_cast<float>(p.score);
  }
  // The pipeline sorts by score, ties in candidate order.
  std::stable_sort(c.top.begin(), c.top.end(), [](const Prediction& a, const Prediction& b) {
    return a.score != b.score ? a.score > b.score : a.class_id < b.class_id;
  });
  if (std::all_of(seen.begin(), seen.end(), [](bool s) { return s; }))
    c.probabilities = std::move(probabilities);
  if (top_k >= 0 && c.top.size() > static_cast<std::size_t>(top_k))
    c.top.resize(static_cast<std::size_t>(top_k));
  return c;
}

std::string zero_shot_request_json(std::span<const std::uint8_t> image,
                                   const std::vector<std::string>& candidate_labels,
                                   const std::string& hypothesis_template) {
  return nlohmann::json{
      {"inputs", base64_encode(image)},
      {"parameters",
       {{"candidate_labels", candidate_labels}, {"hypothesis_template", hypothesis_template}}}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string default_inference_url(const std::string& model_id) {
  return "https://router.huggingface.co/hf-inference/models/" + model_id;
}

RemoteClassifier::RemoteClassifier(RemoteOptions options) : options_(std::move(options)) {
  if (hub_offline()) {
    throw Error(ErrorKind::kOffline,
                options_.model_id.empty() ? options_.endpoint : options_.model_id,
                "HF_HUB_OFFLINE is set, and the remote backend needs the network; unset it or "
                "classify locally");
  }
  if (options_.endpoint.empty()) {
    if (options_.model_id.empty() || !is_repo_id(options_.model_id)) {
      throw Error(ErrorKind::kConfig, options_.model_id,
                  "the remote backend needs a model id like google/vit-base-patch16-224, or "
                  "--endpoint URL");
    }
    url_ = default_inference_url(options_.model_id);
  } else {
    url_ = options_.endpoint;
    if (http::origin_of(url_).empty() ||
        (url_.rfind("http://", 0) != 0 && url_.rfind("https://", 0) != 0)) {
      throw Error(ErrorKind::kConfig, http::display_url(url_), "--endpoint must be an http(s) URL");
    }
  }
  options_.jobs = std::max(1, options_.jobs);
  options_.max_retries = std::max(0, options_.max_retries);
  HubOptions hub;
  hub.token_file = options_.token_file;
  token_ = find_token(hub);
  info_.id = options_.model_id.empty() ? http::display_url(url_) : options_.model_id;
  info_.remote = true;
  if (!options_.candidate_labels.empty()) {
    info_.zero_shot = true;
    info_.labels = options_.candidate_labels;
    info_.hypothesis_template = options_.hypothesis_template;
  }
}

RemoteClassifier::~RemoteClassifier() = default;

PreparedInput RemoteClassifier::prepare(const ClassifyInput& input) const {
  PreparedInput p;
  p.name = input.name;
  p.bytes.assign(input.file_bytes.begin(), input.file_bytes.end());
  std::optional<ImageFormat> format;
  if (input.decoded) {
    format = input.decoded->format;
  } else {
    format = sniff_format(input.file_bytes);
  }
  p.content_type = format ? std::string(mime_type(*format)) : "application/octet-stream";
  return p;
}

Classification RemoteClassifier::classify_one(const PreparedInput& input, int top_k) const {
  const std::string shown = http::display_url(url_);
  http::Request req;
  req.method = "POST";
  req.url = url_;
  req.bearer_token = token_;
  req.connect_timeout_s = std::min(options_.connect_timeout_s, options_.timeout_s);
  req.timeout_s = options_.timeout_s;
  req.follow_redirects = false;
  // A reply is a short JSON list; an error body is only shown as an excerpt (a 2 GB reply once
  // reached 4.2 GB of memory).
  req.max_body_bytes = kMaxReplyBytes;
  req.max_error_body_bytes = kMaxErrorReplyBytes;
  std::string json_body;
  const bool zero_shot = !options_.candidate_labels.empty();
  if (zero_shot) {
    json_body = zero_shot_request_json(input.bytes, options_.candidate_labels,
                                       options_.hypothesis_template);
    req.body = std::span(reinterpret_cast<const std::uint8_t*>(json_body.data()), json_body.size());
    req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  } else if (top_k > kApiDefaultTopK) {
    json_body =
        nlohmann::json{{"inputs", base64_encode(input.bytes)}, {"parameters", {{"top_k", top_k}}}}
            .dump();
    req.body = std::span(reinterpret_cast<const std::uint8_t*>(json_body.data()), json_body.size());
    req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  } else {
    req.body = input.bytes;
    req.headers = {{"Content-Type", input.content_type}, {"Accept", "application/json"}};
  }

  auto fail = [&](ErrorKind kind, const std::string& cause) {
    return Error(kind, input.name, shown + ": " + cause);
  };
  int retries = 0;
  double loading_waited = 0;
  std::string last_problem;
  // One more try if the budget allows, after `wait` seconds.
  auto retry_after = [&](double wait, const std::string& problem) {
    last_problem = problem;
    if (retries >= options_.max_retries) return false;
    ++retries;
    sleep_for(wait);
    return true;
  };
  auto backoff = [&] {
    return jittered(
        std::min(options_.backoff_cap_s, options_.backoff_base_s * std::pow(2.0, retries)));
  };
  auto gave_up = [&](ErrorKind kind) {
    return fail(kind,
                last_problem + " (gave up after " + std::to_string(retries + 1) + " attempts)");
  };

  for (;;) {
    http::Response r;
    try {
      r = http::perform(req);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::kTooLarge) throw fail(ErrorKind::kTooLarge, e.cause());
      if (e.kind() != ErrorKind::kNetwork) throw;
      if (retry_after(backoff(), e.cause())) continue;
      throw gave_up(ErrorKind::kNetwork);
    }
    const std::string status = "HTTP " + std::to_string(r.status);
    if (r.status >= 200 && r.status < 300) {
      return zero_shot ? parse_zero_shot_reply(r.body, input.name, shown, top_k,
                                               options_.candidate_labels)
                       : parse_inference_reply(r.body, input.name, shown, top_k);
    }
    switch (r.status) {
      case 401:
        throw fail(
            ErrorKind::kAuth,
            token_
                ? status + ": the token was rejected (invalid or expired); check it at " +
                      kTokenPage
                : status + ": the Inference API needs a token and none was found; create one at " +
                      std::string(kTokenPage) +
                      " (with the permission to call Inference Providers) and "
                      "pass it with HF_TOKEN, --token-file or `huggingface-cli login`");
      case 403:
        throw fail(
            ErrorKind::kAuth,
            status +
                ": access denied — the token lacks the permission to call Inference Providers, "
                "or the model is gated (accept its conditions on its page); check the token at " +
                std::string(kTokenPage) + " (server: " + server_message(r.body) + ")");
      case 404:
        throw fail(ErrorKind::kNotFound,
                   status +
                       ": no such model, or no inference provider serves it (see the model page's "
                       "\"Inference Providers\" section, or classify locally) (server: " +
                       server_message(r.body) + ")");
      case 429: {
        const auto hinted = http::parse_retry_after(r.header("retry-after"));
        if (hinted && *hinted > options_.max_retry_after_s) {
          throw fail(ErrorKind::kNetwork, status + ": rate limited; the server asks to wait " +
                                              seconds_text(*hinted) + ", try again later");
        }
        if (retry_after(hinted ? *hinted : backoff(), status + ": rate limited")) continue;
        throw gave_up(ErrorKind::kNetwork);
      }
      case 503: {
        double estimated = -1;
        const auto j = json_depth_within(r.body, kMaxJsonDepth)
                           ? nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false)
                           : nlohmann::json();
        if (j.is_object() && j.contains("estimated_time") && j["estimated_time"].is_number()) {
          estimated = j["estimated_time"].get<double>();
        }
        if (estimated >= 0) {
          // The model is being loaded: wait about as long as announced, within the budget.
          const double left = options_.max_loading_wait_s - loading_waited;
          if (left <= 0) {
            throw fail(ErrorKind::kNetwork, status + ": the model is still loading after " +
                                                seconds_text(loading_waited) + "; try again later");
          }
          const double wait = std::min({std::max(estimated, 0.1), left, 60.0});
          loading_waited += wait;
          sleep_for(wait);
          continue;
        }
        [[fallthrough]];
      }
      default:
        if (r.status >= 500) {
          if (retry_after(backoff(), status + ": server error (" + server_message(r.body) + ")"))
            continue;
          throw gave_up(ErrorKind::kNetwork);
        }
        if (r.status == 400 || r.status == 413 || r.status == 415 || r.status == 422) {
          throw fail(ErrorKind::kFormat,
                     status + ": the API refused the image (" + server_message(r.body) + ")");
        }
        throw fail(ErrorKind::kNetwork,
                   "unexpected " + status + " (" + server_message(r.body) + ")");
    }
  }
}

std::vector<ClassifyOutcome> RemoteClassifier::run(std::span<const PreparedInput> inputs,
                                                   int top_k) {
  std::vector<ClassifyOutcome> outcomes(inputs.size());
  std::atomic<std::size_t> next{0};
  std::mutex fatal_mutex;
  std::optional<Error> fatal;  // 401/403/404: every other request would fail the same way
  auto worker = [&] {
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= inputs.size()) return;
      ClassifyOutcome& outcome = outcomes[i];
      {
        std::lock_guard lock(fatal_mutex);
        if (fatal) {
          outcome.error = Error(fatal->kind(), inputs[i].name, fatal->cause());
          continue;
        }
      }
      try {
        outcome.result = classify_one(inputs[i], top_k);
      } catch (const Error& e) {
        outcome.error = e;
        if (e.kind() == ErrorKind::kAuth || e.kind() == ErrorKind::kNotFound) {
          std::lock_guard lock(fatal_mutex);
          if (!fatal) fatal = e;
        }
      } catch (const std::exception& e) {
        outcome.error = Error(ErrorKind::kInternal, inputs[i].name, e.what());
      }
    }
  };
  const std::size_t threads =
      std::min<std::size_t>(static_cast<std::size_t>(options_.jobs), inputs.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return outcomes;
}

}  // namespace binscan

#include "serve/api.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "hub/hub.h"
#include "util/error.h"
#include "util/escape.h"
#include "util/json.h"
#include "util/text.h"

namespace binscan::serve {
namespace {

bool looks_like_json(std::string_view body, std::string_view content_type) {
  if (ascii_lower(content_type).find("application/json") != std::string::npos) return true;
  const auto first = body.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && body[first] == '{';
}

std::vector<std::uint8_t> decode_inputs(const nlohmann::json& inputs) {
  if (!inputs.is_string()) {
    throw ApiError(400, "\"inputs\" must be the image as a base64 string, not " +
                            std::string(inputs.type_name()));
  }
  std::string_view text = inputs.get_ref<const std::string&>();
  // A data: URI ("data:image/jpeg;base64,....") is what browsers' FileReader gives.
  if (text.starts_with("data:")) {
    const auto comma = text.find(',');
    if (comma == std::string_view::npos ||
        text.substr(0, comma).find(";base64") == std::string_view::npos) {
      throw ApiError(400, "\"inputs\" is a data: URI without ;base64 content");
    }
    text.remove_prefix(comma + 1);
  }
  auto bytes = base64_decode(text);
  if (!bytes) throw ApiError(400, "\"inputs\" is not valid base64");
  if (bytes->empty()) throw ApiError(400, "\"inputs\" is empty");
  return std::move(*bytes);
}

void read_parameters(const nlohmann::json& parameters, ClassificationRequest& request) {
  if (parameters.is_null()) return;
  if (!parameters.is_object()) {
    throw ApiError(400,
                   "\"parameters\" must be an object, not " + std::string(parameters.type_name()));
  }
  if (const auto k = parameters.find("top_k"); k != parameters.end() && !k->is_null()) {
    // JSON numbers from JavaScript may be 5.0: accept whole numbers of either kind.
    const bool whole = k->is_number_integer() ||
                       (k->is_number_float() && std::floor(k->get<double>()) == k->get<double>());
    if (!whole || k->get<double>() < 1 || k->get<double>() > 1e6) {
      throw ApiError(400, "\"top_k\" must be a whole number of at least 1, not " + k->dump());
    }
    request.top_k = static_cast<int>(k->get<double>());
    request.top_k_given = true;
  }
  if (const auto c = parameters.find("candidate_labels"); c != parameters.end() && !c->is_null()) {
    const bool strings = c->is_array() && std::all_of(c->begin(), c->end(),
                                                      [](const auto& l) { return l.is_string(); });
    if (!strings) {
      throw ApiError(400, "\"candidate_labels\" must be a list of label texts, not " +
                              std::string(c->type_name()) + " " + json_excerpt(*c));
    }
    if (c->empty()) throw ApiError(400, "\"candidate_labels\" is empty: give at least one label");
    request.candidate_labels = c->get<std::vector<std::string>>();
  }
  if (const auto t = parameters.find("hypothesis_template");
      t != parameters.end() && !t->is_null()) {
    if (!t->is_string()) {
      throw ApiError(400,
                     "\"hypothesis_template\" must be a string such as \"This is a photo of "
                     "{}.\", not " +
                         std::string(t->type_name()));
    }
    request.hypothesis_template = t->get<std::string>();
  }
  if (const auto f = parameters.find("function_to_apply"); f != parameters.end() && !f->is_null()) {
    const auto parsed = f->is_string() ? parse_score_function(f->get<std::string>()) : std::nullopt;
    if (!parsed) {
      throw ApiError(400,
                     "\"function_to_apply\" must be \"softmax\", \"sigmoid\" or \"none\", not " +
                         json_text(*f));
    }
    request.function = parsed;
  }
}

}  // namespace

ClassificationRequest parse_classification_request(std::string_view body,
                                                   std::string_view content_type) {
  ClassificationRequest request;
  if (!looks_like_json(body, content_type)) {
    if (body.empty()) throw ApiError(400, "the request has no body: send the image's bytes");
    request.image.assign(body.begin(), body.end());
    return request;
  }
  nlohmann::json json;
  try {
    // The project's JSON policy: nesting bounded before parsing, so a body of a million '['
    // is a 400, not a stack overflow.
    json = parse_json(body, "request body");
  } catch (const Error& e) {
    throw ApiError(400, std::string("the body is not valid JSON: ") + e.cause());
  }
  if (json.is_discarded()) throw ApiError(400, "the body is not valid JSON");
  if (!json.is_object()) throw ApiError(400, "the JSON body must be an object with \"inputs\"");
  const auto inputs = json.find("inputs");
  if (inputs == json.end()) throw ApiError(400, "the JSON body has no \"inputs\"");
  request.image = decode_inputs(*inputs);
  if (const auto p = json.find("parameters"); p != json.end()) read_parameters(*p, request);
  return request;
}

std::string predictions_body(const std::vector<Prediction>& predictions) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& p : predictions) out.push_back({{"label", p.label}, {"score", p.score}});
  return json_text(out);
}

std::string error_body(std::string_view message) {
  return json_text(nlohmann::ordered_json{{"error", std::string(message)}});
}

bool bearer_token_matches(std::string_view authorization, std::string_view token) {
  std::string_view given;
  if (authorization.size() > 7 && ascii_lower(authorization.substr(0, 7)) == "bearer ") {
    given = authorization.substr(7);
    while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  }
  unsigned char a[SHA256_DIGEST_LENGTH];
  unsigned char b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(given.data()), given.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), b);
  const bool same = CRYPTO_memcmp(a, b, sizeof a) == 0;
  return same && !token.empty() && !given.empty();
}

std::string served_name(const ModelInfo& model) {
  if (is_repo_id(model.id)) return model.id;
  std::filesystem::path dir(model.id);
  if (!dir.has_filename()) dir = dir.parent_path();  // "a/b/" -> "a/b"
  const std::string name = dir.filename().string();
  return name.empty() || name == "." ? model.id : name;
}

}  // namespace binscan::serve

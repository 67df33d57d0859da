// Layer serve/ owns `binscan serve`: a local stand-in for the Hugging Face Inference API (the
// same URLs, request bodies and JSON answers) and a web page, on top of the photo pipeline.
// May use: analysis, pipeline, classify and below (never store, render or cli: the survey pages
// it serves are handed to it as functions).
//
// The Inference API's image-classification contract, as plain functions (no sockets), so the
// parsing and the answers can be tested alone:
//   request:  the image's bytes as the body, or JSON
//             {"inputs": "<base64 or data: URI>", "parameters": {"top_k": K,
//              "function_to_apply": "softmax" | "sigmoid" | "none"}}
//   answer:   [{"label": "...", "score": 0.9}, ...], best first
// and, for a zero-shot (CLIP) model, the zero-shot-image-classification contract:
//   request:  {"inputs": "<base64>", "parameters": {"candidate_labels": ["...", ...],
//              "hypothesis_template": "This is a photo of {}."}}
//   answer:   every candidate label with its softmax score, best first (ties in the order given)
//   errors:   {"error": "..."} with the API's status codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "classify/postprocess.h"

namespace binscan::serve {

// A request the API refuses: the HTTP status and the one-line message for {"error": ...}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

struct ClassificationRequest {
  std::vector<std::uint8_t> image;
  int top_k = 5;                          // the pipeline's default
  std::optional<ScoreFunction> function;  // nullopt: the model's default
  bool top_k_given = false;
  // Zero-shot: parameters.candidate_labels (checked: a non-empty list of strings) and
  // parameters.hypothesis_template.
  std::optional<std::vector<std::string>> candidate_labels;
  std::optional<std::string> hypothesis_template;
};

// Reads a request body as the Inference API does: JSON when the Content-Type says so or the
// body starts with '{' (no image format does), else the body is the image. Throws ApiError(400)
// naming what is wrong (bad JSON, missing or non-base64 "inputs", a bad parameter).
ClassificationRequest parse_classification_request(std::string_view body,
                                                   std::string_view content_type);

// [{"label": ..., "score": ...}, ...] as the API answers.
std::string predictions_body(const std::vector<Prediction>& predictions);

// {"error": message}.
std::string error_body(std::string_view message);

// Whether an Authorization header carries `token` ("Bearer <token>", the scheme
// case-insensitive). Compares SHA-256 digests in constant time, so neither the token's content
// nor its length can be learnt from response times.
bool bearer_token_matches(std::string_view authorization, std::string_view token);

// The name a model is served under (the URL after /models/): a Hub id as is; a directory by its
// last component ("./checkpoints/vit-tiny/" -> "vit-tiny").
std::string served_name(const ModelInfo& model);

}  // namespace binscan::serve

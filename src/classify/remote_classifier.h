// RemoteClassifier: the Hugging Face Inference API as a Classifier. Each image's file bytes are
// POSTed with their Content-Type (what the course's Python `query(filename)` does) and the
// answer [{"label": ..., "score": ...}, ...] becomes the Classification.
//
// Transient trouble is retried within bounds: 503 "model is loading" waits about the announced
// estimated_time; 429 honours Retry-After, else backs off exponentially with jitter; 5xx,
// connection failures and timeouts are retried with backoff. Every failure becomes one Error
// naming the image and the URL — never the token.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "util/error.h"

namespace binscan {

struct RemoteOptions {
  std::string model_id;  // "org/name": the default URL and ModelInfo::id
  std::string endpoint;  // the whole URL (--endpoint); "" -> default_inference_url(model_id)
  std::optional<std::filesystem::path> token_file;  // else $HF_TOKEN, else $HF_HOME/token
  int jobs = 4;                                     // requests in flight at once
  double timeout_s = 60;  // per request: no complete answer by then -> retried
  double connect_timeout_s = 10;
  int max_retries = 4;              // for 429, 5xx, connection failures and timeouts
  double max_loading_wait_s = 300;  // total waiting for a model that is loading (503)
  double backoff_base_s = 1;        // first backoff; doubles each retry, with jitter
  double backoff_cap_s = 30;
  double max_retry_after_s = 120;  // a longer Retry-After is an error, not a wait
  // Zero-shot (CLIP): non-empty makes every request the zero-shot-image-classification task's
  // JSON {"inputs": base64, "parameters": {"candidate_labels", "hypothesis_template"}}, and the
  // answer's labels are mapped back to these (class_id = their index).
  std::vector<std::string> candidate_labels;
  std::string hypothesis_template = std::string(kDefaultHypothesisTemplate);
};

// https://router.huggingface.co/hf-inference/models/ORG/NAME (Inference Providers, hf-inference).
std::string default_inference_url(const std::string& model_id);

// The Inference API's answer [{"label", "score"}, ...] (or the batched [[...]]) as the top_k
// predictions by score (top_k < 0: all). Throws Error(kFormat) naming `name` and `shown_url` with
// a bounded excerpt of the body. Public so the fuzz target can reach it.
Classification parse_inference_reply(const std::string& body, const std::string& name,
                                     const std::string& shown_url, int top_k);

// A zero-shot answer: parse_inference_reply, then every label must be one of `candidates` (each
// at most once; Error(kFormat) otherwise). Predictions get the label's index as class_id, ties are
// ordered as the pipeline orders them (candidate order), and when every candidate came back the
// probabilities are filled in candidate order, so the bin score is exact.
Classification parse_zero_shot_reply(const std::string& body, const std::string& name,
                                     const std::string& shown_url, int top_k,
                                     const std::vector<std::string>& candidates);

// The zero-shot-image-classification request body for a photo's bytes.
std::string zero_shot_request_json(std::span<const std::uint8_t> image,
                                   const std::vector<std::string>& candidate_labels,
                                   const std::string& hypothesis_template);

class RemoteClassifier : public Classifier {
 public:
  // Throws Error(kOffline) when HF_HUB_OFFLINE is set, Error(kConfig) for a bad endpoint.
  explicit RemoteClassifier(RemoteOptions options);
  ~RemoteClassifier() override;

  const ModelInfo& info() const override { return info_; }
  const std::string& url() const { return url_; }
  PreparedInput prepare(const ClassifyInput& input) const override;
  // The service gets the file itself, so any decoded size serves.
  bool accepts_reduced(int, int) const override { return true; }
  // Sends the batch's requests concurrently (up to `jobs` at a time): one outcome per input, a
  // failure naming its image. 401/403/404 fail the requests not yet sent the same way.
  std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int top_k) override;

 private:
  Classification classify_one(const PreparedInput& input, int top_k) const;

  RemoteOptions options_;
  std::string url_;
  std::optional<std::string> token_;
  ModelInfo info_;
};

}  // namespace binscan

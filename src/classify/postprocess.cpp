#include "classify/postprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace binscan {

ScoreFunction score_function(const ModelConfig& config) {
  // The zero-shot pipeline: softmax over the candidate labels, even a single one.
  if (config.is_clip()) return ScoreFunction::kSoftmax;
  // transformers: SIGMOID if multi_label_classification or num_labels == 1, else SOFTMAX for
  // single_label_classification or num_labels > 1 (regression with several outputs included).
  if (config.problem_type == ProblemType::kMultiLabel || config.num_labels() == 1)
    return ScoreFunction::kSigmoid;
  return ScoreFunction::kSoftmax;
}

std::optional<ScoreFunction> parse_score_function(std::string_view name) {
  if (name == "softmax") return ScoreFunction::kSoftmax;
  if (name == "sigmoid") return ScoreFunction::kSigmoid;
  if (name == "none") return ScoreFunction::kNone;
  return std::nullopt;
}

std::vector<float> class_scores(std::span<const float> logits, ScoreFunction function) {
  std::vector<float> out(logits.size());
  if (logits.empty()) return out;
  if (function == ScoreFunction::kNone) {
    std::copy(logits.begin(), logits.end(), out.begin());
    return out;
  }
  if (function == ScoreFunction::kSigmoid) {
    for (std::size_t i = 0; i < logits.size(); ++i)
      out[i] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(logits[i]))));
    return out;
  }
  // Shifted by the maximum, like the pipeline's softmax, so large logits cannot overflow.
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> e(logits.size());
  double sum = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    e[i] = std::exp(static_cast<double>(logits[i]) - max);
    sum += e[i];
  }
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(e[i] / sum);
  return out;
}

std::vector<Prediction> top_predictions(std::span<const float> scores,
                                        const std::vector<std::string>& labels, int top_k) {
  const std::size_t n = scores.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Python's list.sort(reverse=True) is stable: equal scores stay in class-id order.
  // NaN (a broken model) sorts last instead of breaking the ordering.
  const auto key = [&](std::size_t i) {
    const float v = scores[i];
    return std::isnan(v) ? -INFINITY : v;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key(a) > key(b); });
  const std::size_t k = top_k <= 0 ? n : std::min(n, static_cast<std::size_t>(top_k));
  std::vector<Prediction> top;
  top.reserve(k);
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t id = order[i];
    top.push_back({id < labels.size() ? labels[id] : "LABEL_" + std::to_string(id),
                   static_cast<int>(id), scores[id]});
  }
  return top;
}

Classification postprocess(std::span<const float> logits, const ModelConfig& config, int top_k) {
  const auto n = static_cast<std::size_t>(config.num_labels());
  if (logits.size() != n)
    throw Error(ErrorKind::kInternal, "",
                "the model gave " + std::to_string(logits.size()) + " logits for " +
                    std::to_string(n) + " labels");
  Classification c;
  c.probabilities = class_scores(logits, score_function(config));
  c.top = top_predictions(c.probabilities, config.id2label, top_k);
  c.logits.assign(logits.begin(), logits.end());
  return c;
}

}  // namespace binscan

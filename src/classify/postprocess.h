// Logits -> predictions, exactly as transformers' ImageClassificationPipeline.postprocess:
// sigmoid when problem_type is multi_label_classification or the model has a single label,
// otherwise softmax; top-k capped at the number of labels; a stable sort by score, so ties keep
// class-id order; labels from id2label.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "model/config.h"

namespace binscan {

// The pipeline's `function_to_apply`: "softmax", "sigmoid" or "none" (the raw logits).
enum class ScoreFunction { kSoftmax, kSigmoid, kNone };

// The function the pipeline applies for this config (its `function_to_apply` default).
ScoreFunction score_function(const ModelConfig& config);
// "softmax" | "sigmoid" | "none" (as the Inference API's parameters spell them); nullopt else.
std::optional<ScoreFunction> parse_score_function(std::string_view name);

// Scores of every class: float32 values of softmax/sigmoid (computed in double, then rounded,
// so they are at least as accurate as numpy's float32 arithmetic).
std::vector<float> class_scores(std::span<const float> logits, ScoreFunction function);

// The k best of `scores` (all when top_k <= 0), best first; equal scores keep class-id order
// (Python's stable sort), NaN last. labels[i] names class i.
std::vector<Prediction> top_predictions(std::span<const float> scores,
                                        const std::vector<std::string>& labels, int top_k);

// `logits` has config.num_labels() entries. top_k <= 0 means every label. The result keeps the
// logits, so another function_to_apply or top_k can be had later without running the model.
// Throws Error(kInternal) when the logit count does not match the labels.
Classification postprocess(std::span<const float> logits, const ModelConfig& config, int top_k);

}  // namespace binscan

// Logits -> predictions, exactly as transformers' ImageClassificationPipeline.postprocess:
// sigmoid when problem_type is multi_label_classification or the model has a single label,
// otherwise softmax; top-k capped at the number of labels; a stable sort by score, so ties keep
// class-id order; labels from id2label.
#pragma once

#include <span>
#include <vector>

#include "classify/classifier.h"
#include "model/config.h"

namespace binscan {

enum class ScoreFunction { kSoftmax, kSigmoid };

// The function the pipeline applies for this config (its `function_to_apply` default).
ScoreFunction score_function(const ModelConfig& config);

// Scores of every class: float32 values of softmax/sigmoid (computed in double, then rounded,
// so they are at least as accurate as numpy's float32 arithmetic).
std::vector<float> class_scores(std::span<const float> logits, ScoreFunction function);

// `logits` has config.num_labels() entries. top_k <= 0 means every label.
// Throws Error(kInternal) when the logit count does not match the labels.
Classification postprocess(std::span<const float> logits, const ModelConfig& config, int top_k);

}  // namespace binscan

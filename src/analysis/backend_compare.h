// Comparing two backends of the same model on the same photos (classify --compare-remote): the
// local engine, which knows every label's probability, against the Inference API's top-k.
#pragma once

#include <string>
#include <vector>

#include "classify/classifier.h"

namespace binscan {

// How far the local result is from the remote one: over the labels the API returned, the
// largest |local - remote| score, and whether both put the same label first.
struct ScoreDifference {
  double max_abs = 0;
  std::string label;  // where the largest difference is
  bool top1_agrees = false;
};

// `labels` are the local model's id2label (its probabilities are indexed by them); a label the
// local model does not have scores 0 there.
ScoreDifference compare_results(const Classification& local, const Classification& remote,
                                const std::vector<std::string>& labels);

// The comparison over many photos.
struct BackendComparison {
  int compared = 0;
  int agree = 0;            // photos whose top-1 labels agree
  double worst = -1;        // the largest score difference seen
  std::string worst_where;  // "photo, label" of that difference

  // Compares one photo's results and counts them in.
  ScoreDifference add(const std::string& photo, const Classification& local,
                      const Classification& remote, const std::vector<std::string>& labels);
};

}  // namespace binscan

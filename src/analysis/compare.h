// Comparing models on the same photos — the study the course asks for: per photo each model's
// top-5 and verdict; which photos both models, only one, or neither find a bin in; how often they
// agree (and Cohen's kappa, agreement beyond chance); how their bin scores are distributed.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/survey.h"

namespace binscan {

// Groups, in the order a report shows them: disagreements first, then what neither finds.
enum class CompareGroup { kOnlyA, kOnlyB, kNeither, kBoth, kIncomplete, kFailed };
std::string_view group_key(CompareGroup g);  // "only_a", "only_b", "neither", "both", ...

struct ScoreStats {
  int count = 0;
  int found = 0;         // verdict true
  int top1 = 0;          // the best bin label is the model's first guess
  int top5 = 0;          // ... among its first five
  int lower_bounds = 0;  // scores that are lower bounds (remote top-k)
  double mean = 0;
  // min, 10%, 25%, median, 75%, 90%, max (linear interpolation, as numpy.quantile's default)
  std::vector<double> quantiles;
  // Counts of bin scores in decades around the 1/1000 prior of an ImageNet model:
  // [0,1e-4) [1e-4,1e-3) [1e-3,1e-2) [1e-2,0.1) [0.1,0.5) [0.5,1]
  std::vector<int> histogram;
};
inline const std::vector<double> kQuantileLevels{0, 0.1, 0.25, 0.5, 0.75, 0.9, 1};
inline const std::vector<double> kHistogramEdges{0, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1};

struct PhotoComparison {
  PhotoRecord photo;
  std::vector<std::optional<ResultRecord>> results;  // per compared model
  std::vector<bool> verdicts;                        // per model (false when no result)
  CompareGroup group = CompareGroup::kIncomplete;
};

struct Comparison {
  std::vector<ModelKey> models;  // 1 or 2
  std::optional<double> threshold_override;
  std::vector<ScoreStats> stats;  // per model, over photos that model classified
  int photos = 0;                 // all photos in the database
  int compared = 0;               // photos with a result from every compared model
  int both = 0, only_a = 0, only_b = 0, neither = 0, incomplete = 0, failed = 0;
  std::optional<double> agreement;    // (both + neither) / compared
  std::optional<double> kappa;        // Cohen's kappa; nullopt when undefined
  std::vector<PhotoComparison> rows;  // ordered by group, then path
};

// Selectors pick models as "id", "id@revision", or the last path component of the id; empty
// means every model in the database when there are one or two. A threshold overrides the
// verdicts stored at scan time (verdict = bin score >= threshold). Throws Error(kConfig) when
// a selector matches no model or several, or when more than two models need choosing.
Comparison compare_models(SurveyReader& store, const std::vector<std::string>& selectors,
                          std::optional<double> threshold = std::nullopt);

// One row per photo: path, sha256, group, then per model its verdict, bin score and rank, top-1
// and top-5 (RFC 4180, CRLF line ends).
std::string comparison_csv(const Comparison& c);
nlohmann::json comparison_json(const Comparison& c);
// The summary printed on stdout.
std::string comparison_text(const Comparison& c);

// Helpers shared with export and the report.
std::string format_number(double v);  // shortest text that reads back as the same double
std::string model_label(const Comparison& c, std::size_t i);  // "A: id" etc.

}  // namespace binscan

#include "analysis/backend_compare.h"

#include <cmath>
#include <optional>

namespace binscan {

ScoreDifference compare_results(const Classification& local, const Classification& remote,
                                const std::vector<std::string>& labels) {
  ScoreDifference d;
  d.top1_agrees =
      !local.top.empty() && !remote.top.empty() && local.top[0].label == remote.top[0].label;
  for (const auto& r : remote.top) {
    std::optional<double> mine;
    for (std::size_t id = 0; id < labels.size() && id < local.probabilities.size(); ++id) {
      if (labels[id] == r.label) {
        mine = local.probabilities[id];
        break;
      }
    }
    if (!mine) {
      for (const auto& l : local.top) {
        if (l.label == r.label) mine = l.score;
      }
    }
    if (!mine) mine = 0.0;  // a label the local model does not have: it scores nothing
    const double diff = std::abs(*mine - r.score);
    if (d.label.empty() || diff > d.max_abs) {
      d.max_abs = diff;
      d.label = r.label;
    }
  }
  return d;
}

ScoreDifference BackendComparison::add(const std::string& photo, const Classification& local,
                                       const Classification& remote,
                                       const std::vector<std::string>& labels) {
  const ScoreDifference d = compare_results(local, remote, labels);
  ++compared;
  agree += d.top1_agrees ? 1 : 0;
  if (d.max_abs > worst) {
    worst = d.max_abs;
    worst_where = photo + ", " + d.label;
  }
  return d;
}

}  // namespace binscan

#include "analysis/survey.h"

#include <nlohmann/json.hpp>

namespace binscan {

nlohmann::json candidate_labels_array(const ModelKey& key) {
  auto parsed = nlohmann::json::parse(key.candidate_labels, nullptr, false);
  if (parsed.is_array()) return parsed;
  return nlohmann::json::array({key.candidate_labels});
}

std::string ModelKey::display() const {
  std::string s = revision.empty() ? id : id + "@" + revision;
  if (!zero_shot()) return s;
  // The label set tells two runs of one CLIP model apart (in reports, and for compare --models).
  std::string labels;
  for (const auto& l : candidate_labels_array(*this)) {
    labels += (labels.empty() ? "" : " | ") + (l.is_string() ? l.get<std::string>() : l.dump());
  }
  s += " [" + labels + "]";
  if (hypothesis_template != kDefaultHypothesisTemplate) s += " in \"" + hypothesis_template + "\"";
  return s;
}

}  // namespace binscan

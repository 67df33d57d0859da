#include "analysis/verdict.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "util/error.h"
#include "util/text.h"

namespace binscan {
namespace {

std::optional<int> parse_id(std::string_view text) {
  const std::string spec = trim(text);
  if (spec.empty() ||
      !std::all_of(spec.begin(), spec.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  int value = 0;
  const auto [ptr, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), value);
  if (ec != std::errc() || ptr != spec.data() + spec.size()) return std::nullopt;
  return value;
}

bool synonym_matches(std::string_view label, std::string_view spec) {
  const std::string want = ascii_lower(trim(spec));
  std::size_t start = 0;
  while (start <= label.size()) {
    const std::size_t comma = label.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? label.size() : comma;
    if (ascii_lower(trim(label.substr(start, end - start))) == want) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

std::string expand_default(const std::string& spec) {
  return ascii_lower(trim(spec)) == "default" ? std::string(kImageNetBinLabel) : spec;
}

// A word of `label` (ASCII letters and apostrophes, lower-cased) that says "no bin".
bool negated(std::string_view label) {
  static constexpr std::string_view kNegations[] = {"no",      "not",   "without", "none",
                                                    "nothing", "isn't", "aren't",  "never"};
  std::string word;
  const auto is_word = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '\'';
  };
  for (std::size_t i = 0; i <= label.size(); ++i) {
    if (i < label.size() && is_word(label[i])) {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(label[i])));
      continue;
    }
    for (const auto n : kNegations)
      if (word == n) return true;
    word.clear();
  }
  return false;
}

}  // namespace

bool is_no_bin_description(std::string_view label) { return negated(label); }

bool label_matches(std::string_view label, std::string_view spec) {
  if (ascii_lower(trim(label)) == ascii_lower(trim(spec))) return true;
  return synonym_matches(label, spec);
}

std::vector<std::string> bin_specs_for(const ModelInfo& model,
                                       const std::vector<std::string>& specs,
                                       const std::optional<std::vector<std::string>>& candidates) {
  auto names_one_of = [](const std::vector<std::string>& labels, const std::string& spec) {
    return std::any_of(labels.begin(), labels.end(),
                       [&](const std::string& l) { return label_matches(l, spec); });
  };
  std::vector<std::string> out;
  for (const auto& s : specs) {
    const bool is_default = ascii_lower(trim(s)) == "default";
    bool mine = false;
    if (model.zero_shot) {
      mine = is_default || names_one_of(model.labels, s);
    } else if (candidates) {
      mine = !names_one_of(*candidates, s);
    } else {
      const auto id = parse_id(s);
      mine = is_default || (id && *id < static_cast<int>(model.labels.size())) ||
             names_one_of(model.labels, s);
    }
    if (mine) out.push_back(s);
  }
  return out;
}

BinLabels resolve_bin_labels(const std::vector<std::string>& specs_in, const ModelInfo& model) {
  std::vector<std::string> specs = specs_in;
  const auto& labels = model.labels;
  if (model.zero_shot) {
    // The candidate labels are the user's own: by default every one that is not a "no bin"
    // description (is_no_bin_description); "default" among --bin-label specs means the same.
    std::vector<std::string> expanded;
    for (const auto& s : specs.empty() ? std::vector<std::string>{"default"} : specs) {
      if (ascii_lower(trim(s)) != "default") {
        expanded.push_back(s);
        continue;
      }
      for (std::size_t i = 0; i < labels.size(); ++i)
        if (!is_no_bin_description(labels[i])) expanded.push_back(std::to_string(i));
    }
    if (expanded.empty())
      throw Error(ErrorKind::kConfig, model.id,
                  "every candidate label reads as a \"no bin\" description (it holds no, not, "
                  "without, ...); choose the bin labels with --bin-label");
    specs = expanded;
  }
  if (specs.empty()) specs.emplace_back("default");
  BinLabels out;
  if (labels.empty()) {
    // Remote (or a model without id2label): only texts can be matched against returned labels.
    for (const auto& raw : specs) {
      if (parse_id(raw)) {
        throw Error(ErrorKind::kConfig, model.id,
                    "--bin-label " + raw +
                        " is a class id, but this model's labels are not known (remote results "
                        "carry only label texts); give the label text instead");
      }
      const std::string spec = expand_default(raw);
      if (std::find(out.labels.begin(), out.labels.end(), spec) == out.labels.end()) {
        out.labels.push_back(spec);
      }
    }
    return out;
  }
  std::vector<int> ids;
  for (const auto& raw : specs) {
    std::vector<int> matched;
    if (const auto id = parse_id(raw)) {
      if (*id < static_cast<int>(labels.size())) matched.push_back(*id);
    } else {
      const std::string spec = expand_default(raw);
      const std::string want = ascii_lower(trim(spec));
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (ascii_lower(trim(labels[i])) == want) matched.push_back(static_cast<int>(i));
      }
      if (matched.empty()) {
        for (std::size_t i = 0; i < labels.size(); ++i) {
          if (synonym_matches(labels[i], spec)) matched.push_back(static_cast<int>(i));
        }
      }
      if (matched.size() > 1) {
        throw Error(ErrorKind::kConfig, model.id,
                    "--bin-label \"" + raw + "\" is ambiguous: it names \"" +
                        labels[static_cast<std::size_t>(matched[0])] + "\" (id " +
                        std::to_string(matched[0]) + ") and \"" +
                        labels[static_cast<std::size_t>(matched[1])] + "\" (id " +
                        std::to_string(matched[1]) + "); give the class id");
      }
    }
    if (matched.empty()) out.unmatched_specs.push_back(raw);
    ids.insert(ids.end(), matched.begin(), matched.end());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty()) {
    std::string some;
    for (std::size_t i = 0; i < labels.size() && i < 5; ++i) {
      some += (i ? "\", \"" : "\"") + labels[i];
    }
    some += labels.size() > 5 ? "\", ..." : "\"";
    throw Error(ErrorKind::kConfig, model.id,
                "none of the bin labels is a label of this model (its " +
                    std::to_string(labels.size()) + " labels: " + some +
                    "); choose them with --bin-label TEXT_OR_ID");
  }
  out.class_ids = ids;
  for (const int id : ids) out.labels.push_back(labels[static_cast<std::size_t>(id)]);
  return out;
}

BinVerdict judge_bins(const Classification& result, const BinLabels& bins, double threshold) {
  BinVerdict v;
  v.threshold = threshold;
  const auto& p = result.probabilities;
  const bool have_all =
      !p.empty() && !bins.class_ids.empty() && bins.class_ids.back() < static_cast<int>(p.size());
  if (have_all) {
    int best = -1;
    for (const int id : bins.class_ids) {
      v.score += static_cast<double>(p[static_cast<std::size_t>(id)]);
      if (best < 0 || p[static_cast<std::size_t>(id)] > p[static_cast<std::size_t>(best)])
        best = id;
    }
    // Rank as the top-k ordering: higher probability first, ties in class-id order.
    const float pb = p[static_cast<std::size_t>(best)];
    int rank = 1;
    for (std::size_t j = 0; j < p.size(); ++j) {
      if (p[j] > pb || (p[j] == pb && static_cast<int>(j) < best)) ++rank;
    }
    v.rank = rank;
    v.known_ranks = static_cast<int>(p.size());
    v.exact = true;
  } else {
    // Only the top-k are known: a bin label outside them adds an unknown amount.
    v.exact = false;
    v.known_ranks = static_cast<int>(result.top.size());
    for (std::size_t i = 0; i < result.top.size(); ++i) {
      const auto& pred = result.top[i];
      bool is_bin = false;
      if (pred.class_id >= 0 && !bins.class_ids.empty()) {
        is_bin = std::binary_search(bins.class_ids.begin(), bins.class_ids.end(), pred.class_id);
      } else {
        is_bin = std::any_of(bins.labels.begin(), bins.labels.end(),
                             [&](const std::string& l) { return label_matches(pred.label, l); });
      }
      if (is_bin) {
        v.score += pred.score;
        if (!v.rank) v.rank = static_cast<int>(i) + 1;
      }
    }
  }
  v.verdict = v.score >= threshold;
  return v;
}

TiledVerdict judge_tiles(const Classification& photo, std::span<const TileRun> tiles,
                         const BinLabels& bins, double threshold) {
  TiledVerdict v;
  v.photo = judge_bins(photo, bins, threshold);
  v.best = v.photo;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    if (!tiles[i].result) continue;
    const BinVerdict t = judge_bins(*tiles[i].result, bins, threshold);
    if (!v.tile || t.score > v.tile->score) {
      v.tile = t;
      v.best_tile = i;
    }
  }
  if (v.tile && v.tile->score > v.photo.score) v.best = *v.tile;
  return v;
}

}  // namespace binscan

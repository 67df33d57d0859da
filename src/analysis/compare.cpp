#include "analysis/compare.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include "util/error.h"
#include "util/escape.h"
#include "util/json.h"

namespace binscan {
namespace {

std::string base_name(const std::string& id) {
  std::string s = id;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  const auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

std::vector<ModelKey> select_models(const std::vector<ModelKey>& all,
                                    const std::vector<std::string>& selectors) {
  auto list = [&] {
    std::string s;
    for (const auto& m : all) s += (s.empty() ? "" : ", ") + m.display();
    return s.empty() ? std::string("none") : s;
  };
  if (selectors.empty()) {
    if (all.empty()) {
      throw Error(ErrorKind::kConfig, "",
                  "the database has no results yet; run 'binscan scan' first");
    }
    if (all.size() > 2) {
      throw Error(ErrorKind::kConfig, "",
                  "the database has results of " + std::to_string(all.size()) +
                      " models; choose two with --models A,B (models: " + list() + ")");
    }
    return all;
  }
  if (selectors.size() > 2) throw Error(ErrorKind::kConfig, "", "--models takes one or two models");
  std::vector<ModelKey> out;
  for (const auto& sel : selectors) {
    // "NAME#K": the K-th run of NAME in the survey (a CLIP model scanned with several label sets;
    // labels hold commas, which --models A,B cannot carry).
    std::string name = sel;
    std::size_t nth = 0;
    if (const auto hash = sel.rfind('#');
        hash != std::string::npos && hash + 1 < sel.size() &&
        sel.find_first_not_of("0123456789", hash + 1) == std::string::npos) {
      std::from_chars(sel.data() + hash + 1, sel.data() + sel.size(), nth);
      name = sel.substr(0, hash);
    }
    std::vector<ModelKey> hits;
    for (const auto& m : all) {
      if (m.display() == name) hits = {m};
    }
    const auto match = [&](auto&& same) {
      if (!hits.empty()) return;
      for (const auto& m : all) {
        if (same(m)) hits.push_back(m);
      }
    };
    match([&](const ModelKey& m) { return ModelKey(m.id, m.revision).display() == name; });
    match([&](const ModelKey& m) { return m.id == name; });
    match([&](const ModelKey& m) { return base_name(m.id) == name; });
    if (hits.empty()) {
      throw Error(ErrorKind::kConfig, sel,
                  "no results of this model in the database (models: " + list() + ")");
    }
    if (nth > 0) {
      if (nth > hits.size()) {
        throw Error(ErrorKind::kConfig, sel,
                    "there are " + std::to_string(hits.size()) + " runs of " + name +
                        " in the database (models: " + list() + ")");
      }
      hits = {hits[nth - 1]};
    }
    if (hits.size() > 1) {
      throw Error(ErrorKind::kConfig, sel,
                  "names several model runs; give id@revision, or NAME#K for its K-th run (a "
                  "CLIP model's label sets, in the order they were scanned) (models: " +
                      list() + ")");
    }
    out.push_back(hits.front());
  }
  if (out.size() == 2 && out[0] == out[1]) {
    throw Error(ErrorKind::kConfig, selectors[0], "the two models to compare are the same");
  }
  return out;
}

double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double h = (static_cast<double>(sorted.size()) - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

ScoreStats stats_of(const std::vector<const ResultRecord*>& results,
                    const std::vector<bool>& verdicts) {
  ScoreStats s;
  s.count = static_cast<int>(results.size());
  s.histogram.assign(kHistogramEdges.size() - 1, 0);
  std::vector<double> scores;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = *results[i];
    scores.push_back(r.bin_score);
    if (verdicts[i]) ++s.found;
    if (r.bin_rank && *r.bin_rank == 1) ++s.top1;
    if (r.bin_rank && *r.bin_rank <= 5) ++s.top5;
    if (!r.bin_score_exact) ++s.lower_bounds;
    std::size_t b = 0;
    while (b + 2 < kHistogramEdges.size() && r.bin_score >= kHistogramEdges[b + 1]) ++b;
    ++s.histogram[b];
  }
  std::sort(scores.begin(), scores.end());
  double sum = 0;
  for (const double v : scores) sum += v;
  s.mean = scores.empty() ? 0 : sum / static_cast<double>(scores.size());
  if (!scores.empty()) {
    for (const double q : kQuantileLevels) s.quantiles.push_back(quantile(scores, q));
  }
  return s;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v * 100);
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

std::string_view group_key(CompareGroup g) {
  switch (g) {
    case CompareGroup::kOnlyA:
      return "only_a";
    case CompareGroup::kOnlyB:
      return "only_b";
    case CompareGroup::kNeither:
      return "neither";
    case CompareGroup::kBoth:
      return "both";
    case CompareGroup::kIncomplete:
      return "incomplete";
    case CompareGroup::kFailed:
      return "failed";
  }
  return "";
}

std::string format_number(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, ptr) : std::string();
}

std::string model_label(const Comparison& c, std::size_t i) {
  const char* letters[] = {"A", "B"};
  return std::string(letters[std::min<std::size_t>(i, 1)]) + ": " + c.models[i].display();
}

Comparison compare_models(SurveyReader& store, const std::vector<std::string>& selectors,
                          std::optional<double> threshold) {
  Comparison c;
  c.models = select_models(store.models(), selectors);
  c.threshold_override = threshold;
  const auto photos = store.photos();
  const auto results = store.results();
  std::map<std::string, std::vector<const ResultRecord*>> by_photo;
  for (const auto& r : results) by_photo[r.sha256].push_back(&r);
  const std::size_t n = c.models.size();
  c.photos = static_cast<int>(photos.size());
  for (const auto& p : photos) {
    PhotoComparison row;
    row.photo = p;
    row.results.resize(n);
    row.verdicts.assign(n, false);
    bool all = true;
    for (std::size_t i = 0; i < n; ++i) {
      for (const ResultRecord* r : by_photo[p.sha256]) {
        if (r->model == c.models[i]) row.results[i] = *r;
      }
      if (row.results[i]) {
        const auto& r = *row.results[i];
        row.verdicts[i] = threshold ? r.bin_score >= *threshold : r.verdict;
      } else {
        all = false;
      }
    }
    if (p.error) {
      row.group = CompareGroup::kFailed;
      ++c.failed;
    } else if (!all) {
      row.group = CompareGroup::kIncomplete;
      ++c.incomplete;
    } else {
      ++c.compared;
      const bool a = row.verdicts[0];
      const bool b = n > 1 ? row.verdicts[1] : a;
      if (n == 1) {
        row.group = a ? CompareGroup::kBoth : CompareGroup::kNeither;
      } else {
        row.group = a && b ? CompareGroup::kBoth
                    : a    ? CompareGroup::kOnlyA
                    : b    ? CompareGroup::kOnlyB
                           : CompareGroup::kNeither;
      }
      switch (row.group) {
        case CompareGroup::kBoth:
          ++c.both;
          break;
        case CompareGroup::kOnlyA:
          ++c.only_a;
          break;
        case CompareGroup::kOnlyB:
          ++c.only_b;
          break;
        default:
          ++c.neither;
          break;
      }
    }
    c.rows.push_back(std::move(row));
  }
  // Statistics over every result of each model (also photos the other model lacks).
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<const ResultRecord*> rs;
    std::vector<bool> vs;
    for (const auto& row : c.rows) {
      if (row.results[i]) {
        rs.push_back(&*row.results[i]);
        vs.push_back(row.verdicts[i]);
      }
    }
    c.stats.push_back(stats_of(rs, vs));
  }
  if (n == 2 && c.compared > 0) {
    const double total = c.compared;
    const double po = (c.both + c.neither) / total;
    const double pa = (c.both + c.only_a) / total;
    const double pb = (c.both + c.only_b) / total;
    const double pe = pa * pb + (1 - pa) * (1 - pb);
    c.agreement = po;
    if (pe < 1) c.kappa = (po - pe) / (1 - pe);
  }
  std::stable_sort(c.rows.begin(), c.rows.end(),
                   [](const PhotoComparison& x, const PhotoComparison& y) {
                     return static_cast<int>(x.group) < static_cast<int>(y.group);
                   });
  return c;
}

std::string comparison_csv(const Comparison& c) {
  std::string out = "path,sha256,group";
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    const std::string p = i == 0 ? "a_" : "b_";
    out += "," + p + "model," + p + "verdict," + p + "bin_score," + p + "bin_score_exact," + p +
           "bin_rank," + p + "top1_label," + p + "top1_score," + p + "top5";
  }
  out += "\r\n";
  for (const auto& row : c.rows) {
    out += csv_field(row.photo.path) + "," + csv_field(row.photo.sha256) + "," +
           std::string(group_key(row.group));
    for (std::size_t i = 0; i < c.models.size(); ++i) {
      out += "," + csv_field(c.models[i].display());
      if (!row.results[i]) {
        out += ",,,,,,,";
        continue;
      }
      const auto& r = *row.results[i];
      out += std::string(",") + (row.verdicts[i] ? "true" : "false") + "," +
             format_number(r.bin_score) + "," + (r.bin_score_exact ? "true" : "false") + "," +
             (r.bin_rank ? std::to_string(*r.bin_rank) : "") + "," + csv_field(r.top1_label) + "," +
             format_number(r.top1_score) + "," + csv_field(r.top_json);
    }
    out += "\r\n";
  }
  return out;
}

nlohmann::json comparison_json(const Comparison& c) {
  using nlohmann::json;
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json models = json::array();
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    const auto& s = c.stats[i];
    json q = json::object();
    for (std::size_t k = 0; k < s.quantiles.size(); ++k) {
      q[format_number(kQuantileLevels[k])] = s.quantiles[k];
    }
    json hist = json::array();
    for (std::size_t k = 0; k < s.histogram.size(); ++k) {
      hist.push_back({{"from", kHistogramEdges[k]},
                      {"to", kHistogramEdges[k + 1]},
                      {"count", s.histogram[k]}});
    }
    models.push_back(
        {{"id", c.models[i].id},
         {"revision", c.models[i].revision},
         {"candidate_labels",
          c.models[i].zero_shot() ? candidate_labels_array(c.models[i]) : nlohmann::json(nullptr)},
         {"hypothesis_template", c.models[i].zero_shot()
                                     ? nlohmann::json(c.models[i].hypothesis_template)
                                     : nlohmann::json(nullptr)},
         {"name", i == 0 ? "A" : "B"},
         {"classified", s.count},
         {"found", s.found},
         {"bin_top1", s.top1},
         {"bin_top5", s.top5},
         {"lower_bound_scores", s.lower_bounds},
         {"mean_bin_score", s.mean},
         {"quantiles", q},
         {"histogram", hist}});
  }
  json photos = json::array();
  for (const auto& row : c.rows) {
    json per = json::array();
    for (std::size_t i = 0; i < c.models.size(); ++i) {
      if (!row.results[i]) {
        per.push_back(nullptr);
        continue;
      }
      const auto& r = *row.results[i];
      per.push_back({{"model", c.models[i].display()},
                     {"verdict", static_cast<bool>(row.verdicts[i])},
                     {"bin_score", r.bin_score},
                     {"bin_score_exact", r.bin_score_exact},
                     {"bin_rank", r.bin_rank ? json(*r.bin_rank) : json(nullptr)},
                     {"top", parse_stored_json(r.top_json)}});
    }
    photos.push_back({{"path", row.photo.path},
                      {"sha256", row.photo.sha256},
                      {"group", group_key(row.group)},
                      {"error", row.photo.error ? json(*row.photo.error) : json(nullptr)},
                      {"lat", opt(row.photo.lat)},
                      {"lon", opt(row.photo.lon)},
                      {"taken_at", row.photo.taken_at ? json(*row.photo.taken_at) : json(nullptr)},
                      {"results", per}});
  }
  return {{"models", models},
          {"threshold_override", opt(c.threshold_override)},
          {"counts",
           {{"photos", c.photos},
            {"compared", c.compared},
            {"both", c.both},
            {"only_a", c.only_a},
            {"only_b", c.only_b},
            {"neither", c.neither},
            {"incomplete", c.incomplete},
            {"failed", c.failed}}},
          {"agreement", opt(c.agreement)},
          {"cohens_kappa", opt(c.kappa)},
          {"photos", photos}};
}

std::string comparison_text(const Comparison& c) {
  std::string out;
  for (std::size_t i = 0; i < c.models.size(); ++i) {
    const auto& s = c.stats[i];
    out += model_label(c, i) + "\n";
    out += "  classified " + std::to_string(s.count) + " photos, bin found in " +
           std::to_string(s.found) + "; bin label 1st guess in " + std::to_string(s.top1) +
           ", in top 5 in " + std::to_string(s.top5) + "\n";
    if (!s.quantiles.empty()) {
      out += "  bin score: mean " + fixed(s.mean, 4) + ", min " + fixed(s.quantiles[0], 4) +
             ", median " + fixed(s.quantiles[3], 4) + ", 90% " + fixed(s.quantiles[5], 4) +
             ", max " + fixed(s.quantiles[6], 4) + "\n";
    }
  }
  if (c.models.size() == 2) {
    out += "photos compared: " + std::to_string(c.compared) + "  both: " + std::to_string(c.both) +
           "  only A: " + std::to_string(c.only_a) + "  only B: " + std::to_string(c.only_b) +
           "  neither: " + std::to_string(c.neither) + "\n";
    out += "agreement: " + (c.agreement ? percent(*c.agreement) : std::string("n/a")) +
           "  Cohen's kappa: " + (c.kappa ? fixed(*c.kappa, 3) : std::string("n/a")) + "\n";
  } else {
    out += "photos: " + std::to_string(c.compared) + "  bin found: " + std::to_string(c.both) +
           "  not found: " + std::to_string(c.neither) + "\n";
  }
  if (c.incomplete || c.failed) {
    out += "not compared: " + std::to_string(c.incomplete) + " missing a model's result, " +
           std::to_string(c.failed) + " failed to decode\n";
  }
  return out;
}

}  // namespace binscan

// A Classifier stand-in for the survey tests: deterministic probabilities derived from the
// prepared pixels, counters for prepare()/run() calls, and photos it can be told to fail on.
#pragma once

#include <atomic>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "util/error.h"

namespace binscan::test {

class FakeClassifier : public Classifier {
 public:
  FakeClassifier(std::string id, int num_labels, bool remote = false) {
    info_.id = std::move(id);
    info_.revision = remote ? "" : "rev1";
    info_.remote = remote;
    if (!remote) {
      for (int i = 0; i < num_labels; ++i) info_.labels.push_back("label " + std::to_string(i));
    }
    num_labels_ = num_labels;
  }
  ModelInfo& mutable_info() { return info_; }
  const ModelInfo& info() const override { return info_; }

  PreparedInput prepare(const ClassifyInput& input) const override {
    ++prepared;
    PreparedInput p;
    p.name = input.name;
    // A tiny "feature": the mean of each channel of the decoded image.
    double sum[3] = {0, 0, 0};
    const auto& img = input.decoded->image;
    for (std::size_t i = 0; i < img.pixels.size(); ++i) sum[i % 3] += img.pixels[i];
    const double n = std::max<double>(1, static_cast<double>(img.pixels.size()) / 3);
    for (double s : sum) p.pixel_values.push_back(static_cast<float>(s / n / 255.0));
    return p;
  }

  // What accepts_reduced() answers; unset: no reduced size serves (a processor without resize).
  std::function<bool(int, int)> reduced;
  bool accepts_reduced(int width, int height) const override {
    return reduced && reduced(width, height);
  }

  std::vector<ClassifyOutcome> run(std::span<const PreparedInput> inputs, int top_k) override {
    ++runs;
    std::vector<ClassifyOutcome> out;
    for (const auto& in : inputs) {
      if (fail_names.count(in.name)) {
        out.push_back({std::nullopt, Error(ErrorKind::kNetwork, in.name, "fake failure")});
        continue;
      }
      ++classified;
      Classification c;
      // Logits from the features, normalised by softmax: different photos, different scores.
      std::vector<double> logits(static_cast<std::size_t>(num_labels_));
      for (int k = 0; k < num_labels_; ++k) {
        logits[static_cast<std::size_t>(k)] =
            std::sin(salt_ + k * 1.7 + in.pixel_values[0] * 13 + in.pixel_values[1] * 7 * k) * 3;
      }
      double mx = logits[0];
      for (double l : logits) mx = std::max(mx, l);
      double z = 0;
      for (double& l : logits) z += (l = std::exp(l - mx));
      for (double l : logits) c.probabilities.push_back(static_cast<float>(l / z));
      std::vector<int> order(static_cast<std::size_t>(num_labels_));
      for (int k = 0; k < num_labels_; ++k) order[static_cast<std::size_t>(k)] = k;
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return c.probabilities[static_cast<std::size_t>(a)] >
               c.probabilities[static_cast<std::size_t>(b)];
      });
      for (int k = 0; k < std::min(top_k, num_labels_); ++k) {
        const int id = order[static_cast<std::size_t>(k)];
        c.top.push_back({"label " + std::to_string(id), info_.remote ? -1 : id,
                         c.probabilities[static_cast<std::size_t>(id)]});
      }
      if (info_.remote) c.probabilities.clear();
      out.push_back({std::move(c), std::nullopt});
    }
    return out;
  }

  double salt_ = 0;
  mutable std::atomic<int> prepared{0};
  std::atomic<int> runs{0};
  std::atomic<int> classified{0};
  std::set<std::string> fail_names;

 private:
  ModelInfo info_;
  int num_labels_ = 0;
};

}  // namespace binscan::test

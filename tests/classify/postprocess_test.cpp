// postprocess() against transformers' pipeline postprocessing re-done in numpy at test time.
#include "classify/postprocess.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "support/test_support.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

using nlohmann::json;

struct Case {
  std::vector<float> logits;
  std::vector<std::string> labels;
  std::string problem_type;  // "" = absent
  int top_k = 5;
};

ModelConfig config_for(const Case& c) {
  json j{{"architectures", {"ViTForImageClassification"}}};
  for (std::size_t i = 0; i < c.labels.size(); ++i) j["id2label"][std::to_string(i)] = c.labels[i];
  if (!c.problem_type.empty()) j["problem_type"] = c.problem_type;
  return ModelConfig::from_json(j, "test");
}

std::vector<Case> make_cases() {
  std::vector<Case> cases;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const auto labels = [](std::size_t n) {
    std::vector<std::string> l;
    for (std::size_t i = 0; i < n; ++i) l.push_back("label " + std::to_string(i));
    return l;
  };
  for (std::size_t n : {1000u, 10u, 2u, 1u}) {
    for (int rep = 0; rep < 3; ++rep) {
      Case c;
      c.labels = labels(n);
      for (std::size_t i = 0; i < n; ++i)
        c.logits.push_back(normal(rng) * static_cast<float>(rep + 1));
      cases.push_back(c);
    }
  }
  // Ties: equal logits must keep class-id order, also across the top-k boundary.
  cases.push_back({{1, 3, 3, 0, 3, 3, -1, 3}, labels(8), "", 5});
  cases.push_back({{0, 0, 0, 0}, labels(4), "", 5});  // k > num_labels, all tied
  cases.push_back({{2, -1}, labels(2), "", 10});
  // Multi-label: sigmoid per class.
  cases.push_back({{0.5f, -2, 3, 0.5f}, labels(4), "multi_label_classification", 3});
  cases.push_back({{4}, labels(1), "single_label_classification", 5});  // 1 label: sigmoid anyway
  cases.push_back({{1, 2, 3}, labels(3), "regression", 5});             // several outputs: softmax
  // Extremes: softmax must not overflow; sigmoid saturates cleanly.
  cases.push_back({{1e4f, -1e4f, 9999, 88, -88}, labels(5), "", 5});
  cases.push_back({{100, -100, 20, -20}, labels(4), "multi_label_classification", 4});
  cases.push_back({{0.25f, 0.25f, 0.125f}, {"b\u00e4r", "caf\u00e9 \"x\"", "\u0434"}, "", 2});
  return cases;
}

TEST(Postprocess, MatchesTransformersPipelineInNumpy) {
  const auto cases = make_cases();
  json in = json::array();
  for (const auto& c : cases) {
    json j{{"logits", c.logits}, {"labels", c.labels}, {"top_k", c.top_k}};
    j["problem_type"] = c.problem_type.empty() ? json() : json(c.problem_type);
    in.push_back(j);
  }
  test::TempDir dir;
  std::ofstream(dir / "cases.json") << in.dump();
  test::run_python("postprocess_reference.py",
                   {(dir / "cases.json").string(), (dir / "out.json").string()});
  const json out = json::parse(read_text_file(dir / "out.json"));
  ASSERT_EQ(out.size(), cases.size());
  for (std::size_t k = 0; k < cases.size(); ++k) {
    SCOPED_TRACE("case " + std::to_string(k));
    const auto& c = cases[k];
    const auto got = postprocess(c.logits, config_for(c), c.top_k);
    const auto& want = out[k];
    ASSERT_EQ(got.probabilities.size(), want["scores"].size());
    for (std::size_t i = 0; i < got.probabilities.size(); ++i)
      ASSERT_NEAR(got.probabilities[i], want["scores"][i].get<double>(), 1e-6) << i;
    ASSERT_EQ(got.top.size(), want["predictions"].size());
    for (std::size_t i = 0; i < got.top.size(); ++i) {
      const auto& w = want["predictions"][i];
      EXPECT_EQ(got.top[i].class_id, w["index"].get<int>()) << "rank " << i;
      EXPECT_EQ(got.top[i].label, w["label"].get<std::string>()) << "rank " << i;
      EXPECT_NEAR(got.top[i].score, w["score"].get<double>(), 1e-6) << "rank " << i;
    }
  }
}

TEST(Postprocess, TiesKeepIndexOrderAndTopKIsCapped) {
  Case c{{1, 3, 3, 0, 3, 3, -1, 3}, {"a", "b", "c", "d", "e", "f", "g", "h"}, "", 3};
  const auto r = postprocess(c.logits, config_for(c), 3);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_EQ(r.top[0].class_id, 1);
  EXPECT_EQ(r.top[1].class_id, 2);
  EXPECT_EQ(r.top[2].class_id, 4);
  EXPECT_EQ(postprocess(c.logits, config_for(c), 100).top.size(), 8u);
  EXPECT_EQ(postprocess(c.logits, config_for(c), 0).top.size(), 8u);
}

TEST(Postprocess, ScoreFunctionChoice) {
  EXPECT_EQ(score_function(config_for({{}, {"only"}, "", 5})), ScoreFunction::kSigmoid);
  EXPECT_EQ(score_function(config_for({{}, {"a", "b"}, "", 5})), ScoreFunction::kSoftmax);
  EXPECT_EQ(score_function(config_for({{}, {"a", "b"}, "multi_label_classification", 5})),
            ScoreFunction::kSigmoid);
  EXPECT_EQ(score_function(config_for({{}, {"a", "b"}, "regression", 5})), ScoreFunction::kSoftmax);
}

TEST(Postprocess, WrongLogitCountIsAnError) {
  Case c{{1, 2, 3}, {"a", "b"}, "", 5};
  EXPECT_THROW(postprocess(c.logits, config_for(c), 5), Error);
}

}  // namespace
}  // namespace binscan

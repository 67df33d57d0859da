#include "analysis/verdict.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"
#include "util/error.h"

namespace binscan {
namespace {

ModelInfo imagenet_model() {
  ModelInfo m;
  m.id = "imagenet";
  std::ifstream in(test::shared_dir() / "data" / "imagenet-1k-labels.txt");
  for (std::string line; std::getline(in, line);) m.labels.push_back(line);
  return m;
}

TEST(BinLabels, DefaultIsImageNetClass412) {
  const auto m = imagenet_model();
  ASSERT_EQ(m.labels.size(), 1000u);
  const auto bins = resolve_bin_labels({}, m);
  EXPECT_EQ(bins.class_ids, std::vector<int>{kImageNetBinClassId});
  EXPECT_EQ(bins.labels.at(0), m.labels[412]);
  EXPECT_EQ(bins.labels.at(0), std::string(kImageNetBinLabel));
}

TEST(BinLabels, ByTextSynonymOrIdAndDefaultKeyword) {
  const auto m = imagenet_model();
  const auto bins = resolve_bin_labels({"default", "bucket, pail", "TRASH CAN", "412", "463"}, m);
  // "bucket, pail" is class 463; "trash can" is a synonym inside class 412.
  EXPECT_EQ(bins.class_ids, (std::vector<int>{412, 463}));
  EXPECT_TRUE(bins.unmatched_specs.empty());
  EXPECT_EQ(resolve_bin_labels({"pail"}, m).class_ids, std::vector<int>{463});
}

// A zero-shot model's default bin labels: its candidate labels that are not "no bin"
// descriptions (a negation word); "default" means the same; explicit labels as for any model.
TEST(BinLabels, ZeroShotDefaultIsEveryLabelButTheNoBinOnes) {
  EXPECT_TRUE(is_no_bin_description("a street with no bin"));
  EXPECT_TRUE(is_no_bin_description("Not a trash can"));
  EXPECT_TRUE(is_no_bin_description("a pavement without bins"));
  EXPECT_TRUE(is_no_bin_description("there isn't any bin"));
  EXPECT_FALSE(is_no_bin_description("an underground waste container"));
  EXPECT_FALSE(is_no_bin_description("a bin at the north end"));  // "no" only as a word
  EXPECT_FALSE(is_no_bin_description("ashcan, trash can, garbage can"));
  ModelInfo m;
  m.id = "clip";
  m.zero_shot = true;
  m.labels = {"an underground waste container", "a street with no bin", "a public litter bin",
              "nothing special"};
  const BinLabels d = resolve_bin_labels({}, m);
  EXPECT_EQ(d.class_ids, (std::vector<int>{0, 2}));
  EXPECT_EQ(resolve_bin_labels({"default"}, m).class_ids, d.class_ids);
  EXPECT_EQ(resolve_bin_labels({"a public litter bin"}, m).class_ids, std::vector<int>{2});
  m.labels = {"no bin", "not a bin"};
  EXPECT_THROW(resolve_bin_labels({}, m), Error);
  EXPECT_EQ(resolve_bin_labels({"not a bin"}, m).class_ids, std::vector<int>{1});
}

// One --bin-label list for a CLIP model and classifiers together (scan, serve).
TEST(BinLabels, SpecsAreSharedOutBetweenZeroShotAndClassifiers) {
  const std::vector<std::string> specs{"default", "a public litter bin", "trash can", "463",
                                       "a bicycle"};
  ModelInfo clip;
  clip.zero_shot = true;
  clip.labels = {"a public litter bin", "a street with no bin"};
  EXPECT_EQ(bin_specs_for(clip, specs, std::nullopt),
            (std::vector<std::string>{"default", "a public litter bin"}));
  // scan: the CLIP models' labels are known, a classifier takes every spec naming none of them.
  const auto m = imagenet_model();
  EXPECT_EQ(bin_specs_for(m, specs, clip.labels),
            (std::vector<std::string>{"default", "trash can", "463", "a bicycle"}));
  // serve: each request brings its labels, a classifier takes what it can name.
  EXPECT_EQ(bin_specs_for(m, specs, std::nullopt),
            (std::vector<std::string>{"default", "trash can", "463"}));
  ModelInfo small;
  small.labels = {"class_0", "class_1"};
  EXPECT_TRUE(bin_specs_for(small, {"a public litter bin", "7"}, std::nullopt).empty());
}

TEST(BinLabels, AmbiguousSynonymIsAnError) {
  // ImageNet has two classes labelled "crane" (the bird and the machine).
  try {
    resolve_bin_labels({"crane"}, imagenet_model());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kConfig);
    EXPECT_NE(std::string(e.what()).find("ambiguous"), std::string::npos);
  }
}

TEST(BinLabels, FineTunedModelNeedsItsOwnLabels) {
  ModelInfo m;
  m.id = "my/bin-model";
  m.labels = {"no bin", "trash bin"};
  EXPECT_THROW(resolve_bin_labels({}, m), Error);  // ImageNet's class is not among its labels
  const auto bins = resolve_bin_labels({"trash bin", "default"}, m);
  EXPECT_EQ(bins.class_ids, std::vector<int>{1});
  EXPECT_EQ(bins.unmatched_specs, std::vector<std::string>{"default"});
}

TEST(BinLabels, RemoteModelsMatchByTextOnly) {
  ModelInfo m;
  m.id = "google/vit";
  m.remote = true;
  EXPECT_THROW(resolve_bin_labels({"412"}, m), Error);
  const auto bins = resolve_bin_labels({}, m);
  EXPECT_TRUE(bins.class_ids.empty());
  EXPECT_EQ(bins.labels, std::vector<std::string>{std::string(kImageNetBinLabel)});
}

TEST(JudgeBins, SumsProbabilitiesAndRanksTheBestBinLabel) {
  BinLabels bins;
  bins.class_ids = {1, 3};
  bins.labels = {"b", "d"};
  Classification c;
  c.probabilities = {0.30f, 0.05f, 0.40f, 0.20f, 0.05f};
  // Best bin label: class 3 with 0.20; two classes (0.40, 0.30) are above it -> rank 3.
  auto v = judge_bins(c, bins, 0.25);
  EXPECT_NEAR(v.score, 0.25, 1e-7);
  EXPECT_EQ(v.rank, 3);
  EXPECT_TRUE(v.exact);
  EXPECT_EQ(v.known_ranks, 5);
  EXPECT_TRUE(v.verdict);  // 0.25 >= 0.25 (float sum within 1e-7; compare the flag to the score)
  EXPECT_EQ(v.verdict, v.score >= 0.25);
  EXPECT_FALSE(judge_bins(c, bins, 0.26).verdict);
}

TEST(JudgeBins, TiesRankInClassIdOrderLikeTopK) {
  BinLabels bins;
  bins.class_ids = {2};
  Classification c;
  c.probabilities = {0.25f, 0.25f, 0.25f, 0.25f};
  EXPECT_EQ(judge_bins(c, bins, 0.1).rank, 3);
  bins.class_ids = {0};
  EXPECT_EQ(judge_bins(c, bins, 0.1).rank, 1);
}

TEST(JudgeBins, RemoteTopKGivesALowerBoundAndMaybeNoRank) {
  BinLabels bins;
  bins.labels = {std::string(kImageNetBinLabel), "bucket, pail"};
  Classification c;
  c.top = {{"street sign", -1, 0.5},
           {"bucket, pail", -1, 0.07},
           {std::string(kImageNetBinLabel), -1, 0.06}};
  auto v = judge_bins(c, bins, 0.1);
  EXPECT_FALSE(v.exact);
  EXPECT_NEAR(v.score, 0.13, 1e-12);
  EXPECT_EQ(v.rank, 2);
  EXPECT_EQ(v.known_ranks, 3);
  EXPECT_TRUE(v.verdict);
  c.top = {{"street sign", -1, 0.5}, {"car", -1, 0.2}};
  v = judge_bins(c, bins, 0.1);
  EXPECT_EQ(v.score, 0);
  EXPECT_FALSE(v.rank.has_value());
  EXPECT_FALSE(v.verdict);
}

}  // namespace
}  // namespace binscan

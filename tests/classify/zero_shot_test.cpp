// A CLIP checkpoint as a zero-shot classifier, end to end below the CLI: photo bytes -> decode ->
// CLIPImageProcessor, labels -> template -> CLIP tokenizer (padded as the pipeline pads) ->
// both towers -> softmax over the labels, sorted as the pipeline sorts. Against
// tests/reference/clip_reference.py (Pillow preprocessing, the Python tokenizer, the PyTorch
// mirror of modeling_clip.py).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "classify/local_classifier.h"
#include "support/tensors.h"
#include "support/test_support.h"
#include "text/clip_tokenizer.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

// A tiny random-weight CLIP checkpoint with its tokenizer at `dir`.
void make_clip(const fs::path& dir) {
  ASSERT_EQ(
      test::run_python("clip_reference.py", {"make", "--preset", "tiny", "--out", dir.string()})
          .exit_code,
      0);
}

// The classifier's probabilities and order for `labels` in `tmpl` on five shared photos against
// the reference pipeline; the tokenizer's padded ids against the reference's first (their
// unpadded lengths into `lengths`).
void expect_pipeline(const std::vector<std::string>& labels, const std::string& tmpl,
                     std::vector<std::size_t>* lengths = nullptr) {
  test::TempDir tmp;
  const fs::path model = tmp / "clip";
  make_clip(model);
  const auto all = test::all_photos();
  ASSERT_FALSE(all.empty());
  std::vector<fs::path> photos;
  for (std::size_t i = 0; i < 5; ++i) photos.push_back(all[i * all.size() / 5]);
  std::ofstream(tmp / "labels.json") << nlohmann::json(labels).dump();
  std::vector<std::string> args{
      "run",        "--model", model.string(), "--labels",          (tmp / "labels.json").string(),
      "--template", tmpl,      "--out-dir",    tmp.path().string(), "--images"};
  for (const auto& p : photos) args.push_back(p.string());
  ASSERT_EQ(test::run_python("clip_reference.py", args).exit_code, 0);

  // The tokenizer's padded ids are the reference's.
  const ClipTokenizer tok = ClipTokenizer::from_dir(model);
  std::vector<std::string> texts;
  for (const auto& l : labels) texts.push_back(format_hypothesis(tmpl, l));
  std::ifstream ids_in(tmp / "input_ids.json");
  const auto ids = nlohmann::json::parse(ids_in);
  const TokenBatch batch = tok.encode_batch(texts);
  EXPECT_EQ(nlohmann::json(batch.ids), ids["input_ids"]);
  EXPECT_EQ(nlohmann::json(batch.mask), ids["attention_mask"]);
  if (lengths) *lengths = batch.lengths;

  LocalOptions options;
  options.threads = 2;
  options.max_batch = 2;
  options.candidate_labels = labels;
  options.hypothesis_template = tmpl;
  auto classifier = open_local_classifier(model, options);
  EXPECT_TRUE(classifier->info().zero_shot);
  EXPECT_EQ(classifier->info().labels, labels);
  std::vector<PreparedInput> inputs;
  for (const auto& p : photos) {
    const auto bytes = read_file(p);
    const DecodedImage decoded = decode_image(bytes, p.string());
    inputs.push_back(classifier->prepare({p.string(), bytes, &decoded}));
  }
  const auto outcomes = classifier->run(inputs, static_cast<int>(labels.size()));
  const Tensor probs = test::read_npy_tensor(tmp / "probs.npy");
  const Tensor probs64 = test::read_npy_tensor(tmp / "probs64.npy");
  const double noise = test::max_abs_diff(probs, probs64);
  double worst = 0;
  const auto L = labels.size();
  for (std::size_t i = 0; i < photos.size(); ++i) {
    ASSERT_TRUE(outcomes[i].ok()) << photos[i];
    const Classification& c = *outcomes[i].result;
    ASSERT_EQ(c.top.size(), L);
    // Sorted by score, ties in label order (Python's sorted(key=-score) is stable).
    std::vector<std::size_t> order(L);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](auto a, auto b) { return probs.data[i * L + a] > probs.data[i * L + b]; });
    for (std::size_t k = 0; k < L; ++k) {
      EXPECT_EQ(c.top[k].label, labels[order[k]]) << photos[i] << " rank " << k;
      worst = std::max(worst, std::abs(c.probabilities[k] - double(probs.data[i * L + k])));
    }
  }
  std::printf("  probabilities diff %.2e (pytorch fp32 vs fp64 %.2e)\n", worst, noise);
  EXPECT_LE(worst, std::max(1e-5, 3 * noise));
}

TEST(ZeroShot, ProbabilitiesAndOrderMatchThePipeline) {
  expect_pipeline({"an underground waste container", "ashcan, trash can, garbage can, wastebin",
                   "a street with no bin", "a bicycle", "Müll"},
                  "A street photo with {}.");
}

// Labels the pipeline tokenizes unlike a plain word list, through binscan's own tokenizer: one
// beyond the 77-token context (cut to it, ending with the end-of-text token, as truncation=True
// does), CJK written without spaces (one word for the fast tokenizer the pipeline uses), emoji,
// digits, contractions, whitespace runs and a control character.
TEST(ZeroShot, LongAndUnusualLabelsMatchThePipeline) {
  std::string long_label;
  for (int i = 0; i < 60; ++i) long_label += "an overflowing bin, ";
  std::vector<std::size_t> lengths;
  expect_pipeline({long_label, "垃圾桶", "🗑️ full", "bin 42, it's   full\t\n", "a\007bin",
                   "ゴミ箱 und Mülltonne"},
                  "This is a photo of {}.", &lengths);
  ASSERT_FALSE(lengths.empty());
  EXPECT_EQ(lengths[0], 77u) << "the long label does not reach the context";
  EXPECT_LT(*std::max_element(lengths.begin() + 1, lengths.end()), 77u);
}

TEST(ZeroShot, LabelsAreRequiredAndOnlyForClip) {
  test::TempDir tmp;
  const fs::path model = tmp / "clip";
  make_clip(model);
  try {
    (void)open_local_classifier(model, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--label"), std::string::npos) << e.what();
  }
  fs::remove(model / "vocab.json");
  LocalOptions options;
  options.candidate_labels = {"a bin"};
  try {
    (void)open_local_classifier(model, options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer"), std::string::npos) << e.what();
  }
  // A single label: softmax gives it 1, as the pipeline does (not the one-label sigmoid).
  make_clip(tmp / "c2");
  auto one = open_local_classifier(tmp / "c2", options);
  const auto photo = test::all_photos().front();
  const auto bytes = read_file(photo);
  const DecodedImage decoded = decode_image(bytes, photo.string());
  const std::vector<PreparedInput> in{one->prepare({photo.string(), bytes, &decoded})};
  const auto out = one->run(in, 5);
  ASSERT_TRUE(out[0].ok());
  EXPECT_FLOAT_EQ(out[0].result->probabilities[0], 1.f);
}

}  // namespace
}  // namespace binscan

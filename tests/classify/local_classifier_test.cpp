// LocalClassifier end to end below the CLI: photos decoded and preprocessed by binscan, run by the
// engine, against the PyTorch mirror of transformers (tests/reference/torch_reference.py) run on
// the same photos preprocessed independently in Python (Pillow + transformers' formulas).
#include "classify/local_classifier.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "classify/postprocess.h"
#include "image/decode.h"
#include "support/npy.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

// A float32 .npy (what the Python references write) as a Tensor.
Tensor read_npy(const fs::path& path) {
  test::NpyF32 npy = test::read_npy_f32(path);
  Tensor t(npy.shape);
  t.data = std::move(npy.data);
  return t;
}

std::vector<fs::path> parity_photos() {
  const auto d = test::photos_dir();
  return {d / "coco-000000039769.jpeg",
          d / "bike" / "20220119_175431.jpg",  // 4032x3024, EXIF orientation 6
          d / "bike" / "271758547_496887881809012_1375450742634622577_n.jpg",
          d / "trash-bin" / "PXL_20220119_105237021.jpg",
          d / "trash-bin" / "PXL_20220119_122416357.jpg"};
}

struct Parity {
  double max_abs_diff = 0;
  double max_abs_ref = 0;
  double max_score_diff = 0;
  bool same_top5 = true;
  std::vector<std::string> top1;  // per photo, from the reference
};

// Generates a checkpoint, classifies the photos both ways and compares.
Parity run_parity(const std::vector<std::string>& make_args, const std::vector<fs::path>& photos) {
  test::TempDir dir;
  const auto model = dir / "model";
  std::vector<std::string> args{"--out", model.string()};
  args.insert(args.end(), make_args.begin(), make_args.end());
  test::run_python("make_checkpoint.py", args);

  std::vector<std::string> ref_args{"--model", model.string(), "--out",
                                    (dir / "logits.npy").string(), "--images"};
  for (const auto& p : photos) ref_args.push_back(p.string());
  test::run_python("torch_reference.py", ref_args);
  const Tensor ref = read_npy(dir / "logits.npy");

  LocalOptions options;
  options.threads = 2;
  options.max_batch = 4;  // more photos than one batch: exercises batching
  auto classifier = open_local_classifier(model, options);
  std::vector<PreparedInput> inputs;
  for (const auto& p : photos) {
    const auto bytes = read_file(p);
    const DecodedImage decoded = decode_image(bytes, p.string());
    inputs.push_back(classifier->prepare({p.string(), bytes, &decoded}));
  }
  const Tensor got = classifier->logits(inputs);
  EXPECT_EQ(got.shape, ref.shape);
  Parity r;
  if (got.shape != ref.shape) return r;
  const auto labels = static_cast<std::size_t>(ref.shape[1]);
  for (std::size_t i = 0; i < ref.data.size(); ++i) {
    r.max_abs_diff =
        std::max(r.max_abs_diff, static_cast<double>(std::fabs(got.data[i] - ref.data[i])));
    r.max_abs_ref = std::max(r.max_abs_ref, static_cast<double>(std::fabs(ref.data[i])));
  }
  for (std::size_t n = 0; n < photos.size(); ++n) {
    const std::span<const float> g(got.data.data() + n * labels, labels);
    const std::span<const float> w(ref.data.data() + n * labels, labels);
    const auto cg = postprocess(g, classifier->config(), 5);
    const auto cw = postprocess(w, classifier->config(), 5);
    for (std::size_t k = 0; k < cw.top.size(); ++k) {
      r.same_top5 = r.same_top5 && cg.top[k].class_id == cw.top[k].class_id;
      r.max_score_diff = std::max(r.max_score_diff, std::fabs(cg.top[k].score - cw.top[k].score));
    }
    r.top1.push_back(cw.top[0].label);
  }
  std::printf(
      "parity: max |logit diff| %.3g (max |logit| %.3g, ratio %.3g), max top-5 score diff %.3g\n",
      r.max_abs_diff, r.max_abs_ref, r.max_abs_diff / r.max_abs_ref, r.max_score_diff);
  return r;
}

void expect_parity(const std::vector<std::string>& make_args) {
  const Parity p = run_parity(make_args, parity_photos());
  EXPECT_LE(p.max_abs_diff, 1e-4 * p.max_abs_ref)
      << "max |logit diff| " << p.max_abs_diff << ", max |logit| " << p.max_abs_ref;
  EXPECT_TRUE(p.same_top5);
  EXPECT_LE(p.max_score_diff, 1e-5);
}

TEST(LocalClassifierParity, TinyVit) { expect_parity({"--preset", "tiny-vit"}); }
TEST(LocalClassifierParity, TinyVit224GeluTanhNoQkvBias) {
  expect_parity({"--preset", "tiny-vit-224", "--hidden-act", "gelu_new", "--no-qkv-bias"});
}
TEST(LocalClassifierParity, TinyVitQuickGeluEps) {
  expect_parity({"--preset", "tiny-vit", "--hidden-act", "quick_gelu", "--layer-norm-eps", "1e-6"});
}
TEST(LocalClassifierParity, TinyResNetBasic) { expect_parity({"--preset", "tiny-resnet-basic"}); }
TEST(LocalClassifierParity, TinyResNetBottleneckDownsampleVariants) {
  expect_parity({"--preset", "tiny-resnet-bottleneck", "--downsample-in-bottleneck",
                 "--downsample-in-first-stage"});
}
TEST(LocalClassifierParity, TinyResNetSilu) {
  expect_parity({"--preset", "tiny-resnet-basic", "--hidden-act", "silu"});
}
TEST(LocalClassifierParity, FineTune2Label) { expect_parity({"--preset", "finetune-2label"}); }
TEST(LocalClassifierParity, FineTune1LabelSigmoid) {
  expect_parity({"--preset", "finetune-1label"});
}
TEST(LocalClassifierParity, BF16Sharded) {
  expect_parity({"--preset", "tiny-resnet-bottleneck", "--dtype", "BF16", "--shards", "3"});
}

// The random weights make the comparison meaningful: scores are not saturated and the photos do
// not all get the same answer.
TEST(LocalClassifierParity, RandomWeightsGiveDistinctAnswers) {
  for (const char* preset : {"tiny-vit", "tiny-resnet-bottleneck"}) {
    const Parity p = run_parity({"--preset", preset}, parity_photos());
    std::set<std::string> distinct(p.top1.begin(), p.top1.end());
    EXPECT_GE(distinct.size(), 2u) << preset;
  }
}

// Engine copies (LocalOptions::replicas) cut a batch into parts run side by side: every image's
// logits must be the same bits as with one engine, in the inputs' order, however the photos fall
// into parts (5 photos into 2 and into 3 uneven parts, each part batched by max_batch).
TEST(LocalClassifier, EngineCopiesGiveTheSameBitsAsOneEngineInOrder) {
  for (const char* preset : {"tiny-resnet-bottleneck", "tiny-vit"}) {
    SCOPED_TRACE(preset);
    test::TempDir dir;
    test::run_python("make_checkpoint.py", {"--preset", preset, "--out", (dir / "m").string()});
    const auto open = [&](int threads, int replicas) {
      LocalOptions o;
      o.threads = threads;
      o.replicas = replicas;
      o.max_batch = 2;
      return open_local_classifier(dir / "m", o);
    };
    auto one = open(2, 1);
    std::vector<PreparedInput> inputs;
    for (const auto& p : parity_photos()) {
      const auto bytes = read_file(p);
      const DecodedImage decoded = decode_image(bytes, p.string());
      inputs.push_back(one->prepare({p.string(), bytes, &decoded}));
    }
    const Tensor want = one->logits(inputs);
    const auto labels = static_cast<std::size_t>(want.shape[1]);
    // Distinct rows, so that a part returned out of order would show.
    for (std::size_t i = 1; i < inputs.size(); ++i)
      ASSERT_NE(std::memcmp(&want.data[0], &want.data[i * labels], labels * sizeof(float)), 0);
    for (const auto& [threads, replicas] : {std::pair{2, 2}, std::pair{3, 3}, std::pair{1, 2}}) {
      const Tensor got = open(threads, replicas)->logits(inputs);
      ASSERT_EQ(got.shape, want.shape);
      EXPECT_EQ(std::memcmp(got.data.data(), want.data.data(), want.data.size() * sizeof(float)), 0)
          << threads << " threads, " << replicas << " copies";
    }
  }
}

TEST(LocalClassifier, InfoAndLabels) {
  test::TempDir dir;
  test::run_python("make_checkpoint.py", {"--preset", "finetune-2label", "--out",
                                          (dir / "m").string(), "--calib-photos", "2"});
  LocalOptions o;
  o.model_id = "me/bins";
  o.revision = "abc";
  auto c = open_local_classifier(dir / "m", o);
  EXPECT_EQ(c->info().id, "me/bins");
  EXPECT_EQ(c->info().revision, "abc");
  EXPECT_FALSE(c->info().remote);
  EXPECT_EQ(c->info().labels, (std::vector<std::string>{"no bin", "trash bin"}));
  EXPECT_EQ(c->input_height(), 224);
  EXPECT_EQ(c->input_width(), 224);
  // run() on prepared inputs gives top-k capped at 2 labels, probabilities summing to 1.
  const auto photo = parity_photos()[0];
  const auto bytes = read_file(photo);
  const auto decoded = decode_image(bytes, photo.string());
  std::vector<PreparedInput> in{c->prepare({photo.string(), bytes, &decoded})};
  const auto outcomes = c->run(in, 5);
  ASSERT_EQ(outcomes.size(), 1u);
  ASSERT_TRUE(outcomes[0].ok());
  const auto& result = *outcomes[0].result;
  ASSERT_EQ(result.top.size(), 2u);
  EXPECT_NEAR(result.probabilities[0] + result.probabilities[1], 1.0, 1e-6);
  EXPECT_TRUE(c->run({}, 5).empty());
}

// Full-size shapes: google/vit-base-patch16-224 and microsoft/resnet-50 with random weights.
// Each takes ~30-60 s in Release (generation dominates); skipped under sanitizers.
#if defined(BINSCAN_UNDER_SANITIZER)
#define BINSCAN_SKIP_FULL_SIZE() GTEST_SKIP() << "full-size parity is too slow under sanitizers"
#else
#define BINSCAN_SKIP_FULL_SIZE() (void)0
#endif

TEST(LocalClassifierParity, FullSizeVitBase) {
  BINSCAN_SKIP_FULL_SIZE();
  const auto photos = parity_photos();
  const Parity p =
      run_parity({"--preset", "vit-base-patch16-224"}, {photos.begin(), photos.begin() + 3});
  EXPECT_LE(p.max_abs_diff, 1e-4 * p.max_abs_ref)
      << "max |logit diff| " << p.max_abs_diff << ", max |logit| " << p.max_abs_ref;
  EXPECT_TRUE(p.same_top5);
  EXPECT_LE(p.max_score_diff, 1e-5);
}

TEST(LocalClassifierParity, FullSizeResNet50) {
  BINSCAN_SKIP_FULL_SIZE();
  const auto photos = parity_photos();
  const Parity p = run_parity({"--preset", "resnet-50"}, {photos.begin(), photos.begin() + 3});
  EXPECT_LE(p.max_abs_diff, 1e-4 * p.max_abs_ref)
      << "max |logit diff| " << p.max_abs_diff << ", max |logit| " << p.max_abs_ref;
  EXPECT_TRUE(p.same_top5);
  EXPECT_LE(p.max_score_diff, 1e-5);
}

}  // namespace
}  // namespace binscan

// Parity of the CLIP engine (both towers and the zero-shot logits) with the PyTorch mirror of
// transformers' modeling_clip.py (tests/reference/clip_reference.py) on random-weight CLIPModel
// checkpoints in the Hub's layout, written at test time. The photos are preprocessed in Python
// (CLIPImageProcessor) and the texts tokenized in Python, so these tests compare the forward
// passes; the preprocessing is compared here too, against the C++ processor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/dnnl_support.h"
#include "engine/engine.h"
#include "image/decode.h"
#include "model/checkpoint.h"
#include "preprocess/processor.h"
#include "support/npy.h"
#include "support/tensors.h"
#include "support/test_support.h"
#include "util/error.h"
#include "util/tensor.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using test::max_abs;
using test::max_abs_diff;

Tensor npy(const fs::path& path) { return test::read_npy_tensor(path); }

Tensor softmax_rows(const Tensor& logits) {
  Tensor p(logits.shape);
  const auto n = logits.shape[0], k = logits.shape[1];
  for (std::int64_t r = 0; r < n; ++r) {
    double m = -1e300, s = 0;
    for (std::int64_t i = 0; i < k; ++i) m = std::max(m, double(logits.data[r * k + i]));
    std::vector<double> e(static_cast<std::size_t>(k));
    for (std::int64_t i = 0; i < k; ++i) s += e[i] = std::exp(double(logits.data[r * k + i]) - m);
    for (std::int64_t i = 0; i < k; ++i) p.data[r * k + i] = static_cast<float>(e[i] / s);
  }
  return p;
}

// `got` within max(floor, 3 x PyTorch's own fp32 error) of PyTorch's fp32 result, relative to
// max |value| (absolute for probabilities): the ViT tests' criteria (1e-4 logits, 1e-5 scores).
void expect_parity(const std::string& what, const Tensor& got, const Tensor& want,
                   const Tensor& want64, double floor, bool relative = true) {
  ASSERT_EQ(got.shape, want.shape) << what;
  const double scale = relative ? max_abs(want64) : 1.0;
  ASSERT_GT(scale, 0.0);
  const double noise = max_abs_diff(want, want64) / scale;
  const double diff = max_abs_diff(got, want) / scale;
  std::printf("  %-13s diff %.2e (pytorch fp32 vs fp64 %.2e)\n", what.c_str(), diff, noise);
  EXPECT_LE(diff, std::max(floor, 3 * noise)) << what;
}

struct ClipCase {
  test::TempDir tmp;
  fs::path model;

  explicit ClipCase(const std::string& preset, const std::vector<std::string>& extra = {}) {
    model = tmp / "model";
    std::vector<std::string> args{"make", "--preset", preset, "--out", model.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_python("clip_reference.py", args);
    if (r.exit_code != 0) throw std::runtime_error("clip_reference.py make failed: " + r.err);
  }

  // Runs the reference on `photos` and `labels` into a fresh sub-directory.
  fs::path reference(const std::vector<fs::path>& photos, const std::vector<std::string>& labels,
                     const std::string& name) const {
    const fs::path out = tmp / name;
    fs::create_directories(out);
    std::ofstream(out / "labels.json") << nlohmann::json(labels).dump();
    std::vector<std::string> args{
        "run",       "--model",    model.string(), "--labels", (out / "labels.json").string(),
        "--out-dir", out.string(), "--images"};
    for (const auto& p : photos) args.push_back(p.string());
    const auto r = test::run_python("clip_reference.py", args);
    if (r.exit_code != 0) throw std::runtime_error("clip_reference.py run failed: " + r.err);
    return out;
  }
};

std::vector<fs::path> some_photos(std::size_t count) {
  const auto all = test::all_photos();
  std::vector<fs::path> out;
  for (std::size_t i = 0; i < count && !all.empty(); ++i)
    out.push_back(all[(i * all.size()) / count]);
  return out;
}

std::vector<std::vector<std::int64_t>> read_ids(const fs::path& dir) {
  std::ifstream in(dir / "input_ids.json");
  return nlohmann::json::parse(in)["input_ids"].get<std::vector<std::vector<std::int64_t>>>();
}

Tensor slice_rows(const Tensor& t, std::int64_t first, std::int64_t count) {
  std::vector<std::int64_t> shape = t.shape;
  shape[0] = count;
  Tensor out(shape);
  const auto per = static_cast<std::size_t>(t.numel() / t.shape[0]);
  std::copy_n(t.data.begin() + static_cast<std::ptrdiff_t>(first * per), count * per,
              out.data.begin());
  return out;
}

// Every label set: embeddings, logits and probabilities against PyTorch; images one by one give
// the same bits as in the batch; the C++ processor gives Python's pixels.
void check_clip(const std::string& preset, const std::vector<std::string>& extra,
                std::size_t photo_count, const std::vector<std::vector<std::string>>& label_sets) {
  const ClipCase c(preset, extra);
  const auto photos = some_photos(photo_count);
  ASSERT_FALSE(photos.empty());
  const Checkpoint checkpoint = Checkpoint::load(c.model);
  ASSERT_TRUE(checkpoint.config.is_clip());
  EXPECT_EQ(checkpoint.processor.kind, ProcessorKind::kClip);
  EngineOptions options;
  options.threads = 2;
  std::shared_ptr<ClipEngine> clip = create_clip_engine(checkpoint, options);
  options.threads = 1;
  const auto one_thread = create_clip_engine(checkpoint, options);

  for (std::size_t s = 0; s < label_sets.size(); ++s) {
    SCOPED_TRACE("label set " + std::to_string(s));
    const fs::path ref = c.reference(photos, label_sets[s], "run" + std::to_string(s));
    const Tensor pixels = npy(ref / "pixels.npy");
    if (s == 0) {
      // The C++ CLIPImageProcessor against Python's (Pillow-exact resize, crop, normalise).
      const ImageProcessor processor(checkpoint.processor);
      for (std::size_t i = 0; i < photos.size(); ++i) {
        const Tensor mine = processor.preprocess(load_image(photos[i]).image);
        const Tensor theirs = slice_rows(pixels, static_cast<std::int64_t>(i), 1);
        ASSERT_EQ(mine.shape, theirs.shape);
        EXPECT_LE(max_abs_diff(mine, theirs), 1e-6) << photos[i];
      }
    }
    const Tensor image = clip->image_embeds(pixels);
    expect_parity("image_embeds", image, npy(ref / "image_embeds.npy"),
                  npy(ref / "image_embeds64.npy"), 1e-4);
    // An image's embedding is the same bits alone, in a batch, and on one thread.
    for (std::int64_t i = 0; i < pixels.shape[0]; ++i)
      EXPECT_EQ(clip->image_embeds(slice_rows(pixels, i, 1)).data, slice_rows(image, i, 1).data)
          << "image " << i << " alone differs from its batch";
    if (s == 0) {
      EXPECT_EQ(one_thread->image_embeds(pixels).data, image.data);
    }
    const Tensor text = clip->text_embeds(read_ids(ref));
    // A label's embedding does not depend on the others, their padding or the threads.
    if (s == 0) {
      const auto ids = read_ids(ref);
      EXPECT_EQ(one_thread->text_embeds({ids.back()}).data,
                slice_rows(text, static_cast<std::int64_t>(ids.size()) - 1, 1).data);
    }
    expect_parity("text_embeds", text, npy(ref / "text_embeds.npy"), npy(ref / "text_embeds64.npy"),
                  1e-4);
    const auto zero_shot = make_zero_shot_engine(clip, text);
    const Tensor logits = zero_shot->forward(pixels);
    expect_parity("logits", logits, npy(ref / "logits.npy"), npy(ref / "logits64.npy"), 1e-4);
    expect_parity("probabilities", softmax_rows(logits), npy(ref / "probs.npy"),
                  npy(ref / "probs64.npy"), 1e-5, false);
  }
}

const std::vector<std::vector<std::string>> kLabelSets = {
    // lengths differ: padding
    {"a trash bin", "an underground waste container with a steel chute", "a street with no bin",
     "bicycle"},
    // commas as in ImageNet labels, accents, one label
    {"ashcan, trash can, garbage can, wastebin", "Müllcontainer", "poubelle à côté d'un vélo"},
    {"bin"},
    // longer than the context: truncated to 77 tokens with the end-of-text token last
    {"a bin", std::string(400, 'x') + " " +
                  [] {
                    std::string s;
                    for (int i = 0; i < 120; ++i) s += "bin, ";
                    return s;
                  }()},
};

TEST(ClipEngineParity, TinyClip) { check_clip("tiny", {}, 4, kLabelSets); }

TEST(ClipEngineParity, TinyClipLegacyConfig) {
  check_clip("tiny", {"--legacy-config", "--seed", "3"}, 2, {kLabelSets[0], kLabelSets[3]});
}

TEST(ClipEngineParity, FullSizeClipVitBasePatch32) {
#ifdef BINSCAN_UNDER_SANITIZER
  GTEST_SKIP() << "full-size parity is too slow under the sanitizers";
#endif
  check_clip("vit-b-32", {}, 6, {kLabelSets[0], kLabelSets[3]});
}

// --- bf16 ----------------------------------------------------------------------------------------
//
// --precision bf16 on CLIP: both towers' matmuls take bf16 (the projections, LayerNorms, attention
// and the similarities stay fp32), held to the ViT/ResNet bf16 tests' bound, test::bf16_tolerance,
// on each tower's depth. The logits are exp(logit_scale) x a cosine whose absolute error is
// about the sum of the two unit embeddings' relative errors, so their bound is on
// |d logit| / exp(logit_scale) with both towers' depths.

double rel_diff(const Tensor& got, const Tensor& want) {
  return max_abs_diff(got, want) / max_abs(want);
}

void check_clip_bf16(const std::string& preset, std::size_t photo_count) {
  if (const std::string why = bf16_unsupported_reason(); !why.empty())
    GTEST_SKIP() << "bf16 not tested here: " << why;
  const ClipCase c(preset);
  const Checkpoint checkpoint = Checkpoint::load(c.model);
  const auto& cfg = std::get<ClipConfig>(checkpoint.config.arch);
  // patch embedding, then q/k/v, out_proj, fc1, fc2 per layer; text: the token embedding is a
  // lookup.
  const int vision_depth = 1 + 4 * cfg.vision.num_hidden_layers;
  const int text_depth = 4 * cfg.text.num_hidden_layers;
  const fs::path ref = c.reference(some_photos(photo_count), kLabelSets[0], "bf16");
  const Tensor pixels = npy(ref / "pixels.npy");
  EngineOptions options;
  options.threads = 2;
  options.precision = Precision::kBf16;
  std::shared_ptr<ClipEngine> clip = create_clip_engine(checkpoint, options);

  const Tensor image = clip->image_embeds(pixels);
  const Tensor text = clip->text_embeds(read_ids(ref));
  const Tensor logits = make_zero_shot_engine(clip, text)->forward(pixels);
  const double rel_image = rel_diff(image, npy(ref / "image_embeds.npy"));
  const double rel_text = rel_diff(text, npy(ref / "text_embeds.npy"));
  const double cos_diff =
      max_abs_diff(logits, npy(ref / "logits.npy")) / double(clip->logit_scale_exp());
  const double tol_image = test::bf16_tolerance(vision_depth);
  const double tol_text = test::bf16_tolerance(text_depth);
  const double tol_cos = test::bf16_tolerance(vision_depth + text_depth);
  std::printf(
      "  %s bf16: image_embeds %.2e (tolerance %.2e), text_embeds %.2e (%.2e), "
      "cosines %.2e (%.2e)\n",
      preset.c_str(), rel_image, tol_image, rel_text, tol_text, cos_diff, tol_cos);
  EXPECT_LE(rel_image, tol_image);
  EXPECT_LE(rel_text, tol_text);
  EXPECT_LE(cos_diff, tol_cos);
  // bf16 really runs in both towers.
  EXPECT_GT(rel_image, 1e-5) << "no bf16 rounding visible in the image tower";
  EXPECT_GT(rel_text, 1e-5) << "no bf16 rounding visible in the text tower";
  // An image's embedding is the same bits alone and in its batch in bf16 too.
  EXPECT_EQ(clip->image_embeds(slice_rows(pixels, 1, 1)).data, slice_rows(image, 1, 1).data);

  // What the bound must catch: pixels read in the wrong layout (each image transposed).
  const double rel_layout =
      rel_diff(clip->image_embeds(test::transposed_images(pixels)), npy(ref / "image_embeds.npy"));
  std::printf("  perturbed: transposed input %.2e\n", rel_layout);
  EXPECT_GT(rel_layout, tol_image) << "a transposed layout would pass";
}

TEST(ClipEngineBf16, TinyClip) { check_clip_bf16("tiny", 3); }

TEST(ClipEngineBf16, FullSizeClipVitBasePatch32) {
#ifdef BINSCAN_UNDER_SANITIZER
  GTEST_SKIP() << "full-size bf16 is too slow under the sanitizers";
#endif
  check_clip_bf16("vit-b-32", 3);
}

// --- int8 ----------------------------------------------------------------------------------------
//
// --precision int8 on CLIP: the image tower's encoder linears in int8, held to the ViT bound,
// test::int8_tolerance with the weights' crest factor 6, on the vision depth (and on the cosines,
// whose text side is exact); the text tower stays fp32, so its embeddings are fp32's very bits.
void check_clip_int8(const std::string& preset, std::size_t photo_count) {
  if (const std::string why = int8_unsupported_reason(); !why.empty())
    GTEST_SKIP() << "int8 not tested here: " << why;
  const ClipCase c(preset);
  const Checkpoint checkpoint = Checkpoint::load(c.model);
  const auto& cfg = std::get<ClipConfig>(checkpoint.config.arch);
  const int vision_depth = 1 + 4 * cfg.vision.num_hidden_layers;
  const fs::path ref = c.reference(some_photos(photo_count), kLabelSets[0], "int8");
  // Calibrated on other photos than those compared.
  const auto all = test::all_photos();
  const fs::path calib =
      c.reference({all[all.size() / 8], all[all.size() / 2 + 1]}, kLabelSets[0], "calibration");
  const Tensor pixels = npy(ref / "pixels.npy");
  EngineOptions options;
  options.threads = 2;
  const std::shared_ptr<ClipEngine> fp32 = create_clip_engine(checkpoint, options);
  auto ranges = std::make_shared<ActivationRanges>();
  fp32->observe_ranges(ranges.get());
  fp32->image_embeds(npy(calib / "pixels.npy"));
  fp32->observe_ranges(nullptr);
  for (const auto& [name, range] : *ranges)
    EXPECT_EQ(name.rfind("vision_model.encoder.layers.", 0), 0u) << name;
  options.precision = Precision::kInt8;
  options.ranges = ranges;
  std::shared_ptr<ClipEngine> clip = create_clip_engine(checkpoint, options);

  const Tensor image = clip->image_embeds(pixels);
  const Tensor text = clip->text_embeds(read_ids(ref));
  EXPECT_EQ(text.data, fp32->text_embeds(read_ids(ref)).data) << "the text tower is not fp32";
  const Tensor logits = make_zero_shot_engine(clip, text)->forward(pixels);
  const double rel_image = rel_diff(image, npy(ref / "image_embeds.npy"));
  const double cos_diff =
      max_abs_diff(logits, npy(ref / "logits.npy")) / double(clip->logit_scale_exp());
  const double prob_diff = max_abs_diff(softmax_rows(logits), npy(ref / "probs.npy"));
  const double tol = test::int8_tolerance(vision_depth, engine_internal::int8_weight_levels(), 6);
  std::printf("  %s int8: image_embeds %.2e, cosines %.2e (tolerance %.2e), probs %.2e\n",
              preset.c_str(), rel_image, cos_diff, tol, prob_diff);
  EXPECT_LE(rel_image, tol);
  EXPECT_LE(cos_diff, tol);
  EXPECT_GT(rel_image, 1e-3) << "no int8 rounding visible: is int8 really used?";
  EXPECT_EQ(clip->image_embeds(slice_rows(pixels, 1, 1)).data, slice_rows(image, 1, 1).data);

  // What the bound must catch: a transposed input, activation steps 8x too small.
  const double rel_layout =
      rel_diff(clip->image_embeds(test::transposed_images(pixels)), npy(ref / "image_embeds.npy"));
  auto narrow = std::make_shared<ActivationRanges>(*ranges);
  for (auto& [name, range] : *narrow) range /= 8;
  options.ranges = narrow;
  const double rel_scale = rel_diff(create_clip_engine(checkpoint, options)->image_embeds(pixels),
                                    npy(ref / "image_embeds.npy"));
  std::printf("  perturbed: transposed input %.2e, steps / 8 %.2e\n", rel_layout, rel_scale);
  EXPECT_GT(rel_layout, tol) << "a transposed layout would pass";
  EXPECT_GT(rel_scale, tol) << "steps 8x too small would pass";
}

TEST(ClipEngineInt8, TinyClip) { check_clip_int8("tiny", 3); }

TEST(ClipEngineInt8, FullSizeClipVitBasePatch32) {
#ifdef BINSCAN_UNDER_SANITIZER
  GTEST_SKIP() << "full-size int8 is too slow under the sanitizers";
#endif
  check_clip_int8("vit-b-32", 3);
}

// Where oneDNN may not use bf16, a bf16 CLIP engine is refused with the reason (as for ViT).
TEST(ClipEngineBf16, RefusedWithTheReasonWhereTheCpuLacksIt) {
  const std::string why = bf16_unsupported_reason();
  if (why.empty()) GTEST_SKIP() << "this CPU runs bf16; the refusal is tested under AVX2";
  const ClipCase c("tiny");
  EngineOptions options;
  options.precision = Precision::kBf16;
  try {
    create_clip_engine(Checkpoint::load(c.model), options);
    ADD_FAILURE() << "bf16 CLIP engine created without bf16";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("AVX-512 BF16"), std::string::npos) << e.what();
  }
}

TEST(ClipEngineErrors, TextOutsideVocabularyOrContext) {
  const ClipCase c("tiny");
  const Checkpoint checkpoint = Checkpoint::load(c.model);
  const auto clip = create_clip_engine(checkpoint, {});
  const auto& cfg = std::get<ClipConfig>(checkpoint.config.arch);
  EXPECT_THROW(clip->text_embeds({{0, cfg.text.vocab_size}}), Error);
  EXPECT_THROW(clip->text_embeds({std::vector<std::int64_t>(78, 1)}), Error);
  EXPECT_THROW(create_engine(checkpoint, {}), Error);  // needs candidate labels
}

}  // namespace
}  // namespace binscan

// `binscan classify` and `binscan bench` end to end through the binary, on random-weight
// checkpoints generated at test time (tests/reference/make_checkpoint.py). Predictions are held
// against tests/reference/torch_reference.py — a PyTorch mirror of transformers' ViT/ResNet and
// of the image-classification pipeline — run on the same photos preprocessed independently in
// Python (Pillow + transformers' formulas).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "support/tensors.h"
#include "support/test_support.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

test::CommandResult binscan(const std::vector<std::string>& args) {
  return test::run_binscan(args);
}

using test::json_lines;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    out.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::vector<std::string> photos() {
  const auto d = test::photos_dir();
  return {(d / "coco-000000039769.jpeg").string(),
          (d / "bike" / "20220119_175431.jpg").string(),  // 4032x3024, EXIF orientation 6
          (d / "bike" / "271758547_496887881809012_1375450742634622577_n.jpg").string(),
          (d / "trash-bin" / "PXL_20220119_105237021.jpg").string(),
          (d / "trash-bin" / "PXL_20220119_122416357.jpg").string()};
}

class ClassifyCli : public ::testing::Test {
 protected:
  fs::path make_model(const std::vector<std::string>& make_args,
                      const std::string& name = "model") {
    const auto out = tmp_ / name;
    std::vector<std::string> args{"--out", out.string()};
    args.insert(args.end(), make_args.begin(), make_args.end());
    test::run_python("make_checkpoint.py", args);
    return out;
  }

  // binscan classify --format jsonl vs the PyTorch reference: same images in the same order,
  // identical top-k labels, scores within 1e-5. Returns the top-1 labels.
  std::vector<std::string> expect_parity(const fs::path& model,
                                         const std::vector<std::string>& images, int top_k = 5,
                                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"classify", "--model", model.string(),       "--format",
                                  "jsonl",    "--top-k", std::to_string(top_k)};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), images.begin(), images.end());
    const auto r = binscan(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const auto got = json_lines(r.out);

    std::vector<std::string> ref_args{
        "--model", model.string(),        "--json",  (tmp_ / "ref.json").string(),
        "--top-k", std::to_string(top_k), "--images"};
    ref_args.insert(ref_args.end(), images.begin(), images.end());
    test::run_python("torch_reference.py", ref_args);
    const json want = json::parse(read_text_file(tmp_ / "ref.json"));

    std::vector<std::string> top1;
    EXPECT_EQ(got.size(), images.size());
    if (got.size() != want.size()) return top1;
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      SCOPED_TRACE(images[i]);
      const auto& g = got[i];
      // Exactly the documented shape: image, model, predictions [{label, score}].
      EXPECT_EQ(g.size(), 3u) << g.dump();
      EXPECT_EQ(g.at("image"), images[i]);
      EXPECT_EQ(g.at("model"), model.string());
      const auto& gp = g.at("predictions");
      const auto& wp = want[i].at("predictions");
      EXPECT_EQ(gp.size(), wp.size());
      for (std::size_t k = 0; k < std::min(gp.size(), wp.size()); ++k) {
        EXPECT_EQ(gp[k].size(), 2u) << gp[k].dump();
        EXPECT_EQ(gp[k].at("label"), wp[k].at("label")) << "rank " << k;
        const double d =
            std::fabs(gp[k].at("score").get<double>() - wp[k].at("score").get<double>());
        worst = std::max(worst, d);
        EXPECT_LE(d, 1e-5) << "rank " << k;
      }
      if (!wp.empty()) top1.push_back(wp[0].at("label"));
    }
    std::printf("max top-%d score diff vs PyTorch: %.3g\n", top_k, worst);
    return top1;
  }

  test::TempDir tmp_;
};

TEST_F(ClassifyCli, TinyVitMatchesPyTorch) {
  const auto top1 = expect_parity(make_model({"--preset", "tiny-vit"}), photos());
  // Random weights that still tell photos apart: not every photo gets the same answer.
  EXPECT_GE(std::set<std::string>(top1.begin(), top1.end()).size(), 2u);
}

TEST_F(ClassifyCli, TinyResNetBasicMatchesPyTorch) {
  expect_parity(make_model({"--preset", "tiny-resnet-basic"}), photos(), 5, {"--batch", "2"});
}

TEST_F(ClassifyCli, TinyResNetBottleneckMatchesPyTorch) {
  const auto top1 = expect_parity(make_model({"--preset", "tiny-resnet-bottleneck"}), photos());
  EXPECT_GE(std::set<std::string>(top1.begin(), top1.end()).size(), 2u);
}

TEST_F(ClassifyCli, FineTune2LabelMatchesPyTorch) {
  // top-k 5 is capped at the model's 2 labels, as the pipeline does.
  expect_parity(make_model({"--preset", "finetune-2label"}), photos(), 5);
}

TEST_F(ClassifyCli, SingleLabelUsesSigmoidLikePyTorch) {
  const auto model = make_model({"--preset", "finetune-1label"});
  expect_parity(model, photos());
  const auto r = binscan({"classify", "--model", model.string(), "--format", "jsonl", photos()[0]});
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  // A sigmoid score, not a softmax of one logit (which would be exactly 1).
  EXPECT_LT(lines[0]["predictions"][0]["score"].get<double>(), 0.999);
}

TEST_F(ClassifyCli, MultiLabelMatchesPyTorch) {
  expect_parity(make_model({"--preset", "multilabel"}), photos(), 4);
}

TEST_F(ClassifyCli, F16CheckpointMatchesPyTorch) {
  expect_parity(make_model({"--preset", "tiny-vit-224", "--dtype", "F16", "--hidden-act",
                            "gelu_pytorch_tanh"}),
                photos());
}

TEST_F(ClassifyCli, ShardedCheckpointMatchesPyTorch) {
  expect_parity(make_model({"--preset", "tiny-resnet-bottleneck", "--shards", "3",
                            "--downsample-in-bottleneck"}),
                photos(), 3, {"--threads", "1"});
}

// The real shapes of google/vit-base-patch16-224 and microsoft/resnet-50 (1000 ImageNet labels),
// random weights generated at test time. ~30-60 s each in Release.
TEST_F(ClassifyCli, FullSizeVitBaseMatchesPyTorch) {
#if defined(BINSCAN_UNDER_SANITIZER)
  GTEST_SKIP() << "too slow under sanitizers";
#endif
  const auto all = photos();
  expect_parity(make_model({"--preset", "vit-base-patch16-224"}), {all[0], all[1], all[3]});
}

TEST_F(ClassifyCli, FullSizeResNet50MatchesPyTorch) {
#if defined(BINSCAN_UNDER_SANITIZER)
  GTEST_SKIP() << "too slow under sanitizers";
#endif
  const auto all = photos();
  expect_parity(make_model({"--preset", "resnet-50"}), {all[0], all[1], all[3]});
}

// A CLIP checkpoint classifies zero-shot against --label / --labels-file: every candidate label,
// sorted by score, with the probabilities of the PyTorch mirror of the pipeline.
TEST_F(ClassifyCli, ZeroShotClipMatchesPyTorch) {
  const fs::path model = tmp_ / "clip";
  test::run_python("clip_reference.py", {"make", "--preset", "tiny", "--out", model.string()});
  const std::vector<std::string> labels{"an underground waste container, with a chute",
                                        "a public litter bin", "a street with no bin"};
  std::ofstream(tmp_ / "labels.json") << json(labels).dump();
  std::ofstream(tmp_ / "labels.txt") << labels[1] << "\n\n" << labels[2] << "\r\n";
  const auto images = photos();
  std::vector<std::string> ref_args{"run",
                                    "--model",
                                    model.string(),
                                    "--labels",
                                    (tmp_ / "labels.json").string(),
                                    "--out-dir",
                                    tmp_.path().string(),
                                    "--images"};
  ref_args.insert(ref_args.end(), images.begin(), images.end());
  test::run_python("clip_reference.py", ref_args);
  const Tensor probs = test::read_npy_tensor(tmp_ / "probs.npy");

  std::vector<std::string> args{"classify", "--model",       model.string(),
                                "--format", "jsonl",         "--label",
                                labels[0],  "--labels-file", (tmp_ / "labels.txt").string()};
  args.insert(args.end(), images.begin(), images.end());
  const auto r = binscan(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto got = json_lines(r.out);
  ASSERT_EQ(got.size(), images.size());
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const auto& preds = got[i].at("predictions");
    ASSERT_EQ(preds.size(), labels.size());  // every candidate label, not a top-5
    for (std::size_t k = 0; k < preds.size(); ++k) {
      if (k > 0) {
        EXPECT_GE(preds[k - 1].at("score"), preds[k].at("score"));
      }
      const auto at = std::find(labels.begin(), labels.end(), preds[k].at("label"));
      ASSERT_NE(at, labels.end());
      const double want = probs.data[i * labels.size() + (at - labels.begin())];
      worst = std::max(worst, std::fabs(preds[k].at("score").get<double>() - want));
    }
  }
  std::printf("max zero-shot score diff vs PyTorch: %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);

  const auto top2 = binscan({"classify", "--model", model.string(), "--label", "a", "--label", "b",
                             "--label", "c", "--top-k", "2", "--format", "jsonl", images[0]});
  ASSERT_EQ(top2.exit_code, 0) << top2.err;
  EXPECT_EQ(json_lines(top2.out).at(0).at("predictions").size(), 2u);
  const auto none = binscan({"classify", "--model", model.string(), images[0]});
  EXPECT_NE(none.exit_code, 0);
  EXPECT_NE(none.err.find("needs candidate labels"), std::string::npos) << none.err;
  EXPECT_EQ(std::count(none.err.begin(), none.err.end(), '\n'), 1) << none.err;  // one line
  // bench times a CLIP model as a zero-shot classifier (two default labels without --label).
  const auto bench = binscan({"bench", "--model", model.string(), "--batch", "2", "--iterations",
                              "1", "--warmup", "0", "--format", "json"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_GT(json::parse(bench.out).at("images_per_second").get<double>(), 0);
  const auto vit = binscan({"classify", "--model", make_model({"--preset", "tiny-vit"}).string(),
                            "--label", "a bin", images[0]});
  EXPECT_NE(vit.exit_code, 0);
  EXPECT_NE(vit.err.find("zero-shot"), std::string::npos) << vit.err;
}

TEST_F(ClassifyCli, FolderMeansEveryImageInIt) {
  const auto model = make_model({"--preset", "tiny-resnet-basic", "--calib-photos", "2"});
  const auto folder = tmp_ / "photos";
  fs::create_directories(folder / "sub");
  const auto all = photos();
  // Copies in a temporary folder (the photos themselves stay in ../shared).
  fs::copy_file(all[0], folder / "b.jpeg");
  fs::copy_file(all[2], folder / "sub" / "a.jpg");
  fs::copy_file(all[3], folder / "no-extension");  // recognised by content
  std::ofstream(folder / "notes.txt") << "not an image";
  std::ofstream(folder / "fake.jpg") << "not a jpeg either";
  const auto r =
      binscan({"classify", "--model", model.string(), "--format", "jsonl", folder.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> images;
  for (const auto& j : json_lines(r.out)) images.push_back(j["image"]);
  EXPECT_EQ(images, (std::vector<std::string>{(folder / "b.jpeg").string(),
                                              (folder / "no-extension").string(),
                                              (folder / "sub" / "a.jpg").string()}));
}

TEST_F(ClassifyCli, PerImageErrorsAreReportedAndTheOthersContinue) {
  const auto model = make_model({"--preset", "tiny-vit", "--calib-photos", "2"});
  std::ofstream(tmp_ / "text.jpg") << "hello";
  const auto good = photos()[0];
  const auto r =
      binscan({"classify", "--model", model.string(), "--format", "jsonl",
               (tmp_ / "text.jpg").string(), good, (tmp_ / "missing.jpg").string(), good});
  EXPECT_EQ(r.exit_code, 1);
  const auto out = json_lines(r.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["image"], good);
  EXPECT_EQ(out[1]["image"], good);
  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 2u) << r.err;
  EXPECT_NE(err[0].find("binscan: error: " + (tmp_ / "text.jpg").string()), std::string::npos)
      << r.err;
  EXPECT_NE(err[1].find("missing.jpg"), std::string::npos) << r.err;
}

TEST_F(ClassifyCli, BadCheckpointsGiveOneLineNamingFileAndTensor) {
  const auto model = make_model({"--preset", "tiny-vit", "--calib-photos", "2"});
  const auto file = model / "model.safetensors";
  auto bytes = read_file(file);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  json header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  const std::vector<std::uint8_t> data(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n),
                                       bytes.end());
  const auto write = [&](const json& h, std::size_t data_bytes) {
    std::string text = h.dump();
    while (text.size() % 8) text += ' ';
    std::ofstream o(file, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) o.put(static_cast<char>((text.size() >> (8 * i)) & 0xff));
    o << text;
    o.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data_bytes));
  };
  const auto expect_one_line = [&](const std::string& what,
                                   const std::vector<std::string>& needles) {
    const auto r = binscan({"classify", "--model", model.string(), photos()[0]});
    EXPECT_NE(r.exit_code, 0) << what;
    EXPECT_LT(r.exit_code, 128) << what << ": crashed";
    EXPECT_EQ(r.out, "") << what;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << what << ": " << r.err;
    EXPECT_EQ(lines[0].rfind("binscan: error: ", 0), 0u) << lines[0];
    for (const auto& s : needles)
      EXPECT_NE(lines[0].find(s), std::string::npos) << what << ": " << lines[0];
  };

  auto h = header;
  h.erase("vit.encoder.layer.0.output.dense.weight");
  write(h, data.size());
  expect_one_line("missing tensor", {file.string(), "vit.encoder.layer.0.output.dense.weight"});

  h = header;
  h["classifier.weight"]["shape"] = {48, 10};
  write(h, data.size());
  expect_one_line("mis-shaped tensor", {file.string(), "classifier.weight"});

  h = header;
  h["vit.layernorm.weight"]["dtype"] = "I32";
  write(h, data.size());
  expect_one_line("unsupported dtype", {file.string(), "vit.layernorm.weight", "I32"});

  write(header, data.size() / 3);
  expect_one_line("truncated", {file.string(), "tensor '"});

  h = header;
  h["classifier.bias"]["data_offsets"] = {0, 80};
  h["classifier.bias"]["shape"] = {20};
  write(h, data.size());
  expect_one_line("overlapping offsets", {file.string(), "overlap"});

  {
    std::ofstream o(file, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) o.put(static_cast<char>(0x7f));
    o << "{}";
  }
  expect_one_line("header length beyond the file", {file.string(), "header length"});

  write(header, data.size());
  auto cfg = json::parse(read_text_file(model / "config.json"));
  cfg["architectures"] = {"ConvNextForImageClassification"};
  std::ofstream(model / "config.json") << cfg.dump();
  expect_one_line("unknown architecture",
                  {(model / "config.json").string(), "ConvNextForImageClassification"});
  fs::remove(model / "config.json");
  expect_one_line("missing config.json", {(model / "config.json").string()});
}

TEST_F(ClassifyCli, TextFormatIsATableWithBars) {
  const auto model = make_model({"--preset", "finetune-2label", "--calib-photos", "2"});
  const auto r = binscan({"classify", "--model", model.string(), "--top-k", "9", photos()[0]});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;  // path, then one row per label (capped at 2)
  EXPECT_EQ(lines[0], photos()[0]);
  for (int i = 1; i <= 2; ++i) {
    EXPECT_TRUE(lines[i].find("no bin") != std::string::npos ||
                lines[i].find("trash bin") != std::string::npos)
        << lines[i];
    EXPECT_NE(lines[i].find('%'), std::string::npos) << lines[i];
  }
  EXPECT_NE(r.out.find("\u2588"), std::string::npos) << "no bar drawn:\n" << r.out;
}

// Labels come from a checkpoint someone else wrote: control bytes in them reach the terminal
// escaped (\x1b...), never as the escape sequence itself.
TEST_F(ClassifyCli, ControlBytesInLabelsAreShownEscaped) {
  const auto model = make_model({"--preset", "finetune-2label", "--calib-photos", "2"});
  json config = json::parse(read_text_file(model / "config.json"));
  config["id2label"] = {{"0", "bin\x1b]0;owned\x07"}, {"1", "\x1b[2Jclear"}};
  config["label2id"] = {{"bin\x1b]0;owned\x07", 0}, {"\x1b[2Jclear", 1}};
  std::ofstream(model / "config.json") << config.dump();
  const auto r = binscan({"classify", "--model", model.string(), photos()[0]});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bin\\x1b]0;owned\\x07"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\\x1b[2Jclear"), std::string::npos) << r.out;
}

TEST_F(ClassifyCli, UsageErrors) {
  const auto model = make_model({"--preset", "tiny-vit", "--calib-photos", "2"}, "m");
  EXPECT_NE(binscan({"classify", "--model", model.string(), "--top-k", "0", photos()[0]}).exit_code,
            0);
  EXPECT_NE(
      binscan({"classify", "--model", model.string(), "--format", "xml", photos()[0]}).exit_code,
      0);
  EXPECT_NE(binscan({"classify", "--model", model.string()}).exit_code, 0);
  const auto empty = tmp_ / "empty";
  fs::create_directories(empty);
  const auto r = binscan({"classify", "--model", model.string(), empty.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no images"), std::string::npos) << r.err;
}

TEST_F(ClassifyCli, BenchJsonHasExactlyTheDocumentedKeys) {
  const auto model = make_model({"--preset", "tiny-resnet-basic", "--calib-photos", "2"});
  const auto r = binscan({"bench", "--model", model.string(), "--batch", "3", "--threads", "1",
                          "--iterations", "3", "--warmup", "1", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(lines_of(r.out).size(), 1u) << r.out;
  const auto j = nlohmann::ordered_json::parse(r.out);  // keeps the printed key order
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"model", "batch", "threads", "precision",
                                            "ms_per_image", "images_per_second"}));
  EXPECT_EQ(j["precision"], "fp32");
  EXPECT_EQ(j["model"], model.string());
  EXPECT_EQ(j["batch"], 3);
  EXPECT_EQ(j["threads"], 1);
  const double ms = j["ms_per_image"];
  const double ips = j["images_per_second"];
  EXPECT_GT(ms, 0);
  EXPECT_NEAR(ips * ms, 1000.0, 1e-6 * 1000);

  const auto text =
      binscan({"bench", "--model", model.string(), "--iterations", "2", "--warmup", "0"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("ms/image"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace binscan

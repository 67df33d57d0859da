// CLIP zero-shot everywhere a model can be used, through the binary, on a tiny random-weight CLIP
// checkpoint (tests/reference/clip_reference.py) beside a tiny ResNet: a scan stores both, the
// CLIP rows are what `binscan classify` prints for the same labels, a rescan with other labels
// is another model run, compare and export read them; serve answers the zero-shot API as
// classify does, with --bin-label split between the models as scan splits it, and its page
// scores labels typed into it as classify does; --remote sends the zero-shot JSON to a local
// stand-in for the Inference API.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "support/fake_hub.h"
#include "support/serve_process.h"
#include "support/sql_helpers.h"
#include "support/test_support.h"
#include "util/file.h"
#include "util/text.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::vector<std::string> kLabels{"a public litter bin", "ashcan, trash can",
                                       "a street with no bin"};
const std::string kTemplate = "A street photo with {}.";

using test::json_lines;

// A row of test::sql_rows, split at '|' (no stored text here holds one).
std::vector<std::string> cells_of(const std::string& row) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto bar = row.find('|', start);
    out.push_back(row.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 1;
  }
}

std::vector<std::string> label_args(const std::vector<std::string>& labels) {
  std::vector<std::string> out;
  for (const auto& l : labels) {
    out.push_back("--label");
    out.push_back(l);
  }
  return out;
}

class ClipEverywhere : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    test::run_python("clip_reference.py", {"make", "--preset", "tiny", "--out", clip().string()});
    test::run_python("make_checkpoint.py",
                     {"--preset", "tiny-resnet-basic", "--out", resnet().string()});
    // Three small photos, in a folder of their own.
    fs::create_directories(photos());
    int n = 0;
    for (const auto& p : test::all_photos()) {
      if (fs::file_size(p) < 400000 && n < 3)
        fs::copy_file(p, photos() / (std::to_string(n++) + ".jpg"));
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path clip() { return dir_->path() / "clip"; }
  static fs::path resnet() { return dir_->path() / "resnet"; }
  static fs::path photos() { return dir_->path() / "photos"; }

  // What `binscan classify` prints for every photo: path -> predictions.
  static std::map<std::string, json> classify(const std::vector<std::string>& labels,
                                              const std::string& tmpl) {
    std::vector<std::string> args{"classify",   "--model", clip().string(),  "--format", "jsonl",
                                  "--template", tmpl,      photos().string()};
    const auto l = label_args(labels);
    args.insert(args.end(), l.begin(), l.end());
    const auto r = test::run_binscan(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, json> out;
    for (const auto& line : json_lines(r.out))
      out[fs::absolute(line.at("image").get<std::string>()).string()] = line.at("predictions");
    return out;
  }

  test::TempDir tmp_;
  static test::TempDir* dir_;
};
test::TempDir* ClipEverywhere::dir_ = nullptr;

TEST_F(ClipEverywhere, ScanStoresClipBesideResNetAsClassifyPrintsIt) {
  const fs::path db = tmp_ / "s.db";
  std::vector<std::string> scan{"scan",    photos().string(), "-m",      resnet().string(),
                                "-m",      clip().string(),   "--db",    db.string(),
                                "--quiet", "--template",      kTemplate, "--bin-label",
                                "class_3"};  // the ResNet's; CLIP keeps its default
  const auto l = label_args(kLabels);
  scan.insert(scan.end(), l.begin(), l.end());
  const auto r = test::run_binscan(scan);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::sql_count(db, "SELECT count(*) FROM results WHERE candidate_labels = ''"), 3);
  EXPECT_EQ(
      test::sql_rows(db, "SELECT DISTINCT bin_labels FROM results WHERE candidate_labels = ''"),
      std::vector<std::string>{R"(["class_3"])"});

  // Every CLIP row: the label set and template, and exactly classify's predictions.
  const auto expected = classify(kLabels, kTemplate);
  ASSERT_EQ(expected.size(), 3u);
  const auto rows = test::sql_rows(
      db,
      "SELECT p.path, r.candidate_labels, r.hypothesis_template, r.top_k, r.bin_score, "
      "r.bin_labels, r.bin_score_exact FROM results r JOIN photos p ON p.sha256 = r.sha256 "
      "WHERE r.candidate_labels <> '' ORDER BY p.path");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    const auto cells = cells_of(row);
    ASSERT_EQ(cells.size(), 7u) << row;
    EXPECT_EQ(json::parse(cells[1]), json(kLabels));
    EXPECT_EQ(cells[2], kTemplate);
    const json stored = json::parse(cells[3]);
    const json& want = expected.at(cells[0]);
    ASSERT_EQ(stored.size(), want.size());
    double bins = 0;
    for (std::size_t k = 0; k < want.size(); ++k) {
      EXPECT_EQ(stored[k].at("label"), want[k].at("label"));
      EXPECT_EQ(stored[k].at("score").get<double>(), want[k].at("score").get<double>());
      if (want[k].at("label") != "a street with no bin") bins += want[k].at("score").get<double>();
    }
    // The default bin labels: the two that are not a "no bin" description.
    EXPECT_NEAR(std::stod(cells[4]), bins, 1e-6);
    EXPECT_EQ(json::parse(cells[5]), json({kLabels[0], kLabels[1]}));
    EXPECT_EQ(cells[6], "1");
  }

  // Another label set: another model run, beside the first; the ResNet has nothing to do.
  std::ofstream(tmp_ / "labels.txt") << "a bin\na bicycle\n";
  const auto again =
      test::run_binscan({"scan", photos().string(), "-m", resnet().string(), "-m", clip().string(),
                         "--db", db.string(), "--labels-file", (tmp_ / "labels.txt").string(),
                         "--bin-label", "a bin", "--bin-label", "class_3", "--format", "json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out).at("total_new_results"), 3) << again.out;
  EXPECT_EQ(test::sql_count(db, "SELECT count(DISTINCT candidate_labels) FROM results"), 3);
  EXPECT_EQ(test::sql_rows(db,
                           "SELECT DISTINCT bin_labels FROM results WHERE candidate_labels "
                           "LIKE '%bicycle%'"),
            std::vector<std::string>{R"(["a bin"])"});

  // compare: any two runs, CLIP against the ResNet on the bin verdict, or two label sets.
  const auto three = test::run_binscan({"compare", "--db", db.string()});
  EXPECT_NE(three.exit_code, 0);
  EXPECT_NE(three.err.find("[a bin | a bicycle]"), std::string::npos) << three.err;
  const auto ambiguous = test::run_binscan({"compare", "--db", db.string(), "--models", "clip"});
  EXPECT_NE(ambiguous.err.find("NAME#K"), std::string::npos) << ambiguous.err;
  const auto cmp =
      test::run_binscan({"compare", "--db", db.string(), "--models", "resnet,clip#1", "--json",
                         (tmp_ / "c.json").string(), "--html", (tmp_ / "c.html").string()});
  ASSERT_EQ(cmp.exit_code, 0) << cmp.err;
  const json c = json::parse(read_text_file(tmp_ / "c.json"));
  EXPECT_EQ(c.at("models").at(0).at("candidate_labels"), nullptr);
  EXPECT_EQ(c.at("models").at(1).at("candidate_labels"), json(kLabels));
  EXPECT_EQ(c.at("models").at(1).at("hypothesis_template"), kTemplate);
  EXPECT_NE(read_text_file(tmp_ / "c.html").find("a public litter bin | ashcan, trash can"),
            std::string::npos);
  const auto sets =
      test::run_binscan({"compare", "--db", db.string(), "--models", "clip#1,clip#2"});
  ASSERT_EQ(sets.exit_code, 0) << sets.err;
  EXPECT_NE(sets.out.find("[a bin | a bicycle]"), std::string::npos) << sets.out;

  // Exports carry the label set of each CLIP row.
  const auto exported = test::run_binscan({"export", "--db", db.string(), "--format", "jsonl"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  int zero_shot = 0;
  for (const auto& row : json_lines(exported.out)) {
    if (!row.at("candidate_labels").is_null()) {
      ++zero_shot;
      EXPECT_TRUE(row.at("candidate_labels").is_array());
    }
  }
  EXPECT_EQ(zero_shot, 6);
}

TEST_F(ClipEverywhere, ServeAnswersTheZeroShotApiAsClassifyPrints) {
  test::ServeProcess s(tmp_, {"-m", clip().string(), "-m", resnet().string(), "--threads", "2"});
  ASSERT_TRUE(s.running()) << s.log();
  const auto expected = classify(kLabels, kTemplate);
  auto client = s.client();
  for (const auto& [path, want] : expected) {
    const json body{
        {"inputs", base64_encode(read_file(path))},
        {"parameters", {{"candidate_labels", kLabels}, {"hypothesis_template", kTemplate}}}};
    const auto r = client.Post("/models/clip", body.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body), want) << path;  // the same numbers, bit for bit
  }
  const std::string image = base64_encode(read_file(expected.begin()->first));
  auto post = [&](const json& parameters) {
    const auto r =
        client.Post("/models/clip", json{{"inputs", image}, {"parameters", parameters}}.dump(),
                    "application/json");
    return r ? std::make_pair(r->status, r->body) : std::make_pair(0, std::string());
  };
  const auto missing = post(json::object());
  EXPECT_EQ(missing.first, 400);
  EXPECT_NE(missing.second.find("candidate_labels"), std::string::npos) << missing.second;
  EXPECT_EQ(post({{"candidate_labels", json::array()}}).first, 400);
  EXPECT_EQ(post({{"candidate_labels", "a, b"}}).first, 400);
  EXPECT_EQ(post({{"candidate_labels", {"a", 1}}}).first, 400);
  const auto raw =
      client.Post("/models/clip", read_text_file(expected.begin()->first), "image/jpeg");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->status, 400);
  // A classifier refuses candidate labels rather than ignoring them.
  const auto classifier =
      client.Post("/models/resnet",
                  json{{"inputs", image}, {"parameters", {{"candidate_labels", {"a"}}}}}.dump(),
                  "application/json");
  ASSERT_TRUE(classifier);
  EXPECT_EQ(classifier->status, 400);
  // The page's endpoint: the CLIP model's labels with a bin verdict, the ResNet as it is.
  const auto page =
      client.Post("/binscan/analyze",
                  json{{"inputs", image}, {"parameters", {{"candidate_labels", kLabels}}}}.dump(),
                  "application/json");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  const json models = json::parse(page->body).at("models");
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("predictions").size(), 3u);
  EXPECT_EQ(models[0].at("bin_labels"), json({kLabels[0], kLabels[1]}));
  EXPECT_EQ(models[1].at("predictions").size(), 5u);
  const auto listed = client.Get("/models");
  ASSERT_TRUE(listed);
  EXPECT_EQ(json::parse(listed->body).at(0).at("task"), "zero-shot-image-classification");
  const auto html = client.Get("/");
  ASSERT_TRUE(html);
  EXPECT_NE(html->body.find("id=\"labels\""), std::string::npos);
}

// --bin-label beside a CLIP model is split as scan splits it: the CLIP model takes the specs
// naming one of a request's labels (none: its default), the ResNet the rest.
TEST_F(ClipEverywhere, ServeSplitsBinLabelsBetweenClipAndClassifier) {
  test::ServeProcess s(tmp_, {"-m", clip().string(), "-m", resnet().string(), "--threads", "2",
                              "--bin-label", "class_3", "--bin-label", kLabels[0], "--quiet"});
  ASSERT_TRUE(s.running()) << s.log();
  const std::string image = base64_encode(read_file(fs::directory_iterator(photos())->path()));
  auto analyze = [&](const test::ServeProcess& server, const std::vector<std::string>& labels) {
    auto client = server.client();
    const auto r =
        client.Post("/binscan/analyze",
                    json{{"inputs", image}, {"parameters", {{"candidate_labels", labels}}}}.dump(),
                    "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r ? r->status : 0, 200) << (r ? r->body : "");
    return r ? json::parse(r->body).at("models") : json::array();
  };
  const json models = analyze(s, kLabels);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("bin_labels"), json({kLabels[0]}));
  double bin = 0;
  for (const auto& p : models[0].at("predictions"))
    if (p.at("label") == kLabels[0]) bin = p.at("score").get<double>();
  EXPECT_NEAR(models[0].at("bin_score").get<double>(), bin, 1e-12);
  EXPECT_EQ(models[1].at("bin_labels"), json({"class_3"}));
  // Labels that no spec names: the CLIP model's default (every label but a "no bin" one).
  const json other = analyze(s, {"a bin", "a bicycle", "a street without a bin"});
  ASSERT_EQ(other.size(), 2u);
  EXPECT_EQ(other[0].at("bin_labels"), json({"a bin", "a bicycle"}));
  EXPECT_EQ(other[1].at("bin_labels"), json({"class_3"}));
  EXPECT_EQ(s.stop(), 0);

  // Only a CLIP label: the ResNet is served with its default (none in a 10-class model), not
  // refused for a label that was never its.
  test::ServeProcess only(tmp_, {"-m", clip().string(), "-m", resnet().string(), "--threads", "2",
                                 "--bin-label", kLabels[1], "--quiet"});
  ASSERT_TRUE(only.running()) << only.log();
  const json alone = analyze(only, kLabels);
  ASSERT_EQ(alone.size(), 2u);
  EXPECT_EQ(alone[0].at("bin_labels"), json({kLabels[1]}));
  EXPECT_FALSE(alone[1].contains("bin_labels"));
  EXPECT_EQ(only.stop(), 0);
}

// The page, as a person uses it: labels typed into its box, a shared photo picked; the CLIP bars
// are what `binscan classify --label` prints, its bin labels those the split gives it.
TEST_F(ClipEverywhere, ServePageScoresTypedLabelsAsClassifyPrints) {
  if (!test::browser_installed()) {
    if (test::browser_required()) FAIL() << "chromium and chromium-driver are not installed";
    GTEST_SKIP() << "needs chromium + chromium-driver (scripts/install-deps --with-browser)";
  }
  const std::vector<std::string> labels{"a public litter bin", "a bicycle", "a street with no bin"};
  fs::path photo;
  for (const auto& p : test::all_photos())
    if (fs::file_size(p) < 400000) {
      photo = p;
      break;
    }
  ASSERT_FALSE(photo.empty());
  test::ServeProcess s(tmp_, {"-m", clip().string(), "-m", resnet().string(), "--threads", "2",
                              "--bin-label", "class_3", "--bin-label", "a bicycle"});
  ASSERT_TRUE(s.running()) << s.log();
  std::vector<std::string> args{s.url("/"), "--template", kTemplate, photo.string()};
  const auto l = label_args(labels);
  args.insert(args.end(), l.begin(), l.end());
  const auto r = test::run_python("serve_page_check.py", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json shown = json::parse(r.out).at(photo.filename().string());

  std::vector<std::string> classify{"classify", "--model",    clip().string(), "--format",
                                    "jsonl",    "--template", kTemplate,       photo.string()};
  classify.insert(classify.end(), l.begin(), l.end());
  const auto c = test::run_binscan(classify);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const json want = json_lines(c.out).at(0).at("predictions");
  const json& got = shown.at("clip").at("predictions");
  ASSERT_EQ(got.size(), want.size()) << r.out;
  for (std::size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(got[k].at("label"), want[k].at("label")) << k;
    EXPECT_NEAR(got[k].at("score").get<double>(), want[k].at("score").get<double>(), 1e-6) << k;
  }
  EXPECT_EQ(shown.at("clip").at("bins"), json({"a bicycle"}));
  EXPECT_EQ(shown.at("resnet").at("predictions").size(), 5u);
  EXPECT_EQ(s.stop(), 0);
}

TEST_F(ClipEverywhere, RemoteSendsTheZeroShotRequestAndMapsTheAnswer) {
  test::FakeInference api;
  // Answered out of order: binscan sorts as the pipeline does (ties in label order).
  api.script({{200, test::FakeInference::predictions_json(
                        {{kLabels[2], 0.25}, {kLabels[0], 0.5}, {kLabels[1], 0.25}})}});
  const fs::path photo = fs::directory_iterator(photos())->path();
  const std::vector<std::string> env{"HF_TOKEN=hf_test_token_123", "HF_HUB_OFFLINE="};
  std::vector<std::string> args{test::binscan_binary().string(),
                                "classify",
                                "--remote",
                                "--model",
                                "org/clip",
                                "--endpoint",
                                api.url(),
                                "--template",
                                kTemplate,
                                "--format",
                                "jsonl",
                                photo.string()};
  const auto l = label_args(kLabels);
  args.insert(args.end(), l.begin(), l.end());
  const auto r = test::run_command(args, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(api.bodies().size(), 1u);
  const json sent = json::parse(api.bodies().at(0));
  EXPECT_EQ(sent.at("inputs"), base64_encode(read_file(photo)));
  EXPECT_EQ(sent.at("parameters").at("candidate_labels"), json(kLabels));
  EXPECT_EQ(sent.at("parameters").at("hypothesis_template"), kTemplate);
  EXPECT_EQ(api.requests().at(0).header("content-type"), "application/json");
  const json preds = json_lines(r.out).at(0).at("predictions");
  EXPECT_EQ(preds, json::parse(R"([{"label":"a public litter bin","score":0.5},
    {"label":"ashcan, trash can","score":0.25},{"label":"a street with no bin","score":0.25}])"));

  // An answer naming a label that was not sent is one line naming the photo.
  api.script({{200, test::FakeInference::predictions_json({{"a bicycle", 1.0}})}});
  const auto odd = test::run_command(args, env);
  EXPECT_NE(odd.exit_code, 0);
  EXPECT_NE(odd.err.find("not one of the candidate labels"), std::string::npos) << odd.err;
  EXPECT_EQ(std::count(odd.err.begin(), odd.err.end(), '\n'), 1) << odd.err;

  // scan --remote: the label set stored, the bin score exact (every label came back).
  api.script({{200, test::FakeInference::predictions_json(
                        {{kLabels[0], 0.5}, {kLabels[1], 0.25}, {kLabels[2], 0.25}})}});
  const fs::path db = tmp_ / "remote.db";
  std::vector<std::string> scan{test::binscan_binary().string(),
                                "scan",
                                photos().string(),
                                "--remote",
                                "--model",
                                "org/clip",
                                "--endpoint",
                                api.url(),
                                "--db",
                                db.string(),
                                "--quiet"};
  scan.insert(scan.end(), l.begin(), l.end());
  const auto s = test::run_command(scan, env);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(test::sql_rows(db,
                           "SELECT DISTINCT remote, candidate_labels, bin_score_exact, "
                           "bin_rank, round(bin_score, 9) FROM results"),
            std::vector<std::string>{"1|" + json(kLabels).dump() + "|1|1|0.75"});
}

}  // namespace
}  // namespace binscan

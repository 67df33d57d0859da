// `binscan classify` with model ids and the remote backend, end to end through the binary:
// a fake Hub serving a real (random-weight) checkpoint, and a fake Inference API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/fake_hub.h"
#include "support/test_support.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Reply = test::FakeInference::Reply;

const std::string kToken = "hf_ClassifySecret_1357924680";
const char* kCommit = "fedcba9876543210fedcba9876543210fedcba98";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string cats() { return (test::photos_dir() / "coco-000000039769.jpeg").string(); }

class HubClassify : public ::testing::Test {
 protected:
  std::vector<std::string> env(const std::vector<std::string>& extra = {}) const {
    auto e = test::hub_test_env((tmp / "hf").string(), hub.endpoint(), kToken);
    e.insert(e.end(), extra.begin(), extra.end());
    return e;
  }
  test::CommandResult binscan(std::vector<std::string> args,
                              const std::vector<std::string>& extra = {}) const {
    return test::run_binscan(args, env(extra));
  }
  std::vector<std::string> remote(std::vector<std::string> more) const {
    std::vector<std::string> args{"classify",  "--remote",   "--model",
                                  "org/model", "--endpoint", api.url()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  // The token must not be in anything binscan printed or wrote.
  void expect_no_token(const test::CommandResult& r) const {
    EXPECT_THAT(r.out, Not(HasSubstr(kToken)));
    EXPECT_THAT(r.err, Not(HasSubstr(kToken)));
    if (fs::exists(tmp / "hf")) {
      for (const auto& e : fs::recursive_directory_iterator(tmp / "hf")) {
        if (e.is_regular_file()) {
          EXPECT_THAT(slurp(e.path()), Not(HasSubstr(kToken))) << e.path();
        }
      }
    }
  }

  test::TempDir tmp;
  test::FakeHub hub;
  test::FakeInference api;
};

const std::string kAnswer = test::FakeInference::predictions_json(
    {{"Egyptian cat", 0.9374412894248962}, {"tabby, tabby cat", 0.03844260051846504}});

TEST_F(HubClassify, RemoteThrough503LoadingThen200) {
  api.script({{503, R"({"error": "Model org/model is currently loading", "estimated_time": 0.2})"},
              {200, kAnswer}});
  const auto r = binscan(remote({"--format", "jsonl", cats()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto line = nlohmann::json::parse(r.out);
  EXPECT_EQ(line["image"], cats());
  EXPECT_EQ(line["model"], "org/model");
  EXPECT_EQ(line["predictions"], nlohmann::json::parse(kAnswer));
  const auto reqs = api.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].header("authorization"), "Bearer " + kToken);
  EXPECT_EQ(reqs[1].header("content-type"), "image/jpeg");
  expect_no_token(r);
}

TEST_F(HubClassify, RemoteHonoursRetryAfterOn429) {
  api.script({{429, R"({"error": "rate limited"})", {{"Retry-After", "1"}}}, {200, kAnswer}});
  const auto r = binscan(remote({cats()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Egyptian cat"));
  const auto reqs = api.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(990));
}

TEST_F(HubClassify, RemoteGivesUpOnRepeated500s) {
  api.script({{500, R"({"error": "boom"})"}});
  const auto r = binscan(remote({"--retries", "2", cats(), cats()}));
  EXPECT_EQ(r.exit_code, 1);
  // One line per image, naming the image and the URL.
  EXPECT_THAT(r.err, HasSubstr("binscan: error: " + cats() + ": " + api.url() + ": HTTP 500"));
  EXPECT_THAT(r.err, HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 2);
  EXPECT_EQ(api.requests().size(), 6u);  // 2 images x 3 attempts, not more
  expect_no_token(r);
}

TEST_F(HubClassify, RemoteServerThatNeverAnswersTimesOut) {
  Reply silent;
  silent.never_answer = true;
  api.script({silent});
  const auto r = binscan(remote({"--timeout", "0.5", "--retries", "1", cats()}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no answer within 0.5 s"));
  EXPECT_EQ(api.requests().size(), 2u);
}

TEST_F(HubClassify, RemoteAuthErrorsAndTheTokenStaysSecret) {
  api.script({{401, R"({"error": "Invalid credentials in Authorization header"})"}});
  const auto r = binscan(remote({cats()}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("token was rejected"));
  EXPECT_THAT(r.err, HasSubstr("https://huggingface.co/settings/tokens"));
  expect_no_token(r);
  std::ofstream(tmp / "token") << kToken << "\n";
  const auto f = binscan(remote({"--token-file", (tmp / "token").string(), cats()}), {"HF_TOKEN="});
  EXPECT_EQ(api.requests().back().header("authorization"), "Bearer " + kToken);
  expect_no_token(f);
}

TEST_F(HubClassify, RemoteRequestsRunConcurrentlyUpToJobs) {
  Reply slow{200, kAnswer};
  slow.delay_ms = 300;
  api.script({slow});
  const auto r = binscan(
      remote({"--jobs", "3", "--format", "jsonl", cats(), cats(), cats(), cats(), cats(), cats()}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 6);
  EXPECT_EQ(api.max_in_flight(), 3);
}

// A real checkpoint (random weights, ViT at 224) served by the fake Hub: `--model org/tiny`
// downloads it and gives what `--model DIR` gives; --compare-remote sets it against the API.
class HubClassifyModel : public HubClassify {
 protected:
  void SetUp() override {
    test::run_python("make_checkpoint.py",
                     {"--preset", "tiny-vit-224", "--out", (tmp / "ckpt").string()});
    test::FakeHub::Commit c;
    c.hash = kCommit;
    for (const auto& e : fs::directory_iterator(tmp / "ckpt")) {
      c.files[e.path().filename().string()] = slurp(e.path());
    }
    hub.add_commit("org/tiny", c);
    hub.set_branch("org/tiny", "main", kCommit);
  }
};

TEST_F(HubClassifyModel, ModelIdIsDownloadedAndGivesTheDirectorysResults) {
  const auto by_dir =
      binscan({"classify", "--model", (tmp / "ckpt").string(), "--format", "jsonl", cats()});
  ASSERT_EQ(by_dir.exit_code, 0) << by_dir.err;
  const auto by_id = binscan({"classify", "--model", "org/tiny", "--format", "jsonl", cats()});
  ASSERT_EQ(by_id.exit_code, 0) << by_id.err;
  EXPECT_EQ(nlohmann::json::parse(by_id.out)["predictions"],
            nlohmann::json::parse(by_dir.out)["predictions"]);
  EXPECT_EQ(nlohmann::json::parse(by_id.out)["model"], "org/tiny");
  EXPECT_TRUE(fs::exists(tmp / "hf" / "hub" / "models--org--tiny" / "snapshots" / kCommit /
                         "model.safetensors"));
  // Offline, from the cache.
  const auto offline = binscan({"classify", "--model", "org/tiny", "--format", "jsonl", cats()},
                               {"HF_HUB_OFFLINE=1"});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.out, by_id.out);
  // Pinned by commit.
  const auto pinned = binscan({"classify", "--model", "org/tiny", "--revision", kCommit, cats()},
                              {"HF_HUB_OFFLINE=1"});
  EXPECT_EQ(pinned.exit_code, 0) << pinned.err;
}

TEST_F(HubClassifyModel, PreprocessAndBenchAcceptModelIds) {
  // preprocess needs only preprocessor_config.json: the weights are not fetched.
  const auto pre =
      binscan({"preprocess", "--model", "org/tiny", cats(), "--npy", (tmp / "a.npy").string()});
  ASSERT_EQ(pre.exit_code, 0) << pre.err;
  const auto by_dir = binscan({"preprocess", "--model", (tmp / "ckpt").string(), cats(), "--npy",
                               (tmp / "b.npy").string()});
  ASSERT_EQ(by_dir.exit_code, 0) << by_dir.err;
  EXPECT_EQ(slurp(tmp / "a.npy"), slurp(tmp / "b.npy"));
  for (const auto& req : hub.hub_requests()) EXPECT_THAT(req.path, Not(HasSubstr("safetensors")));

  const auto bench = binscan(
      {"bench", "--model", "org/tiny", "--iterations", "1", "--warmup", "0", "--format", "json"});
  ASSERT_EQ(bench.exit_code, 0) << bench.err;
  EXPECT_GT(nlohmann::json::parse(bench.out)["ms_per_image"].get<double>(), 0);
}

TEST_F(HubClassifyModel, CompareRemoteShowsTheLargestScoreDifference) {
  const auto local = binscan({"classify", "--model", "org/tiny", "--format", "jsonl", cats()});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  auto preds = nlohmann::json::parse(local.out)["predictions"];
  ASSERT_GE(preds.size(), 3u);
  // The "hosted" model differs from the local one on the last label (order unchanged).
  auto& last = preds[preds.size() - 1];
  const std::string changed = last["label"];
  const double delta = 0.4 * last["score"].get<double>();
  last["score"] = last["score"].get<double>() - delta;
  api.script({{200, preds.dump()}});
  const auto r = binscan({"classify", "--model", "org/tiny", "--compare-remote", "--endpoint",
                          api.url(), "--format", "jsonl", cats()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto line = nlohmann::json::parse(r.out);
  EXPECT_EQ(line["image"], cats());
  EXPECT_NEAR(line["max_abs_diff"].get<double>(), delta, 1e-9);
  EXPECT_EQ(line["max_diff_label"], changed);
  EXPECT_EQ(line["top1_agrees"], true);
  EXPECT_EQ(line["local"], nlohmann::json::parse(local.out)["predictions"]);
  EXPECT_EQ(line["remote"], preds);

  const auto text = binscan(
      {"classify", "--model", "org/tiny", "--compare-remote", "--endpoint", api.url(), cats()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("local"));
  EXPECT_THAT(text.out, HasSubstr("remote"));
  char expected[64];
  std::snprintf(expected, sizeof expected, "largest score difference %.4g (%s)", delta,
                changed.c_str());
  EXPECT_THAT(text.out, HasSubstr(expected));
  expect_no_token(text);
}

}  // namespace
}  // namespace binscan

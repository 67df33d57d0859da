// RemoteClassifier against a fake Inference API on 127.0.0.1: what is sent, how answers and
// failures (503 loading, 429, 5xx, silence, 401/403/404, malformed JSON) are handled.
#include "classify/remote_classifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/fake_hub.h"
#include "support/test_support.h"
#include "util/file.h"
#include "util/text.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using Reply = test::FakeInference::Reply;

const std::string kToken = "hf_RemoteSecret_0987654321";

class Remote : public ::testing::Test {
 protected:
  void SetUp() override {
    save("HF_TOKEN");
    save("HF_HUB_OFFLINE");
    save("HF_HOME");
    ::setenv("HF_TOKEN", kToken.c_str(), 1);
    ::unsetenv("HF_HUB_OFFLINE");
    ::setenv("HF_HOME", tmp.path().c_str(), 1);
    photo = read_file(test::photos_dir() / "coco-000000039769.jpeg");
  }
  void TearDown() override {
    for (const auto& [k, v] : saved) v ? ::setenv(k.c_str(), v->c_str(), 1) : ::unsetenv(k.c_str());
  }
  void save(const std::string& k) {
    const char* v = std::getenv(k.c_str());
    saved.emplace_back(k, v ? std::optional<std::string>(v) : std::nullopt);
  }

  RemoteOptions options() const {
    RemoteOptions o;
    o.model_id = "org/model";
    o.endpoint = server.url();
    o.backoff_base_s = 0.05;  // keep retries quick; the logic is the same
    o.timeout_s = 5;
    return o;
  }
  PreparedInput input(const RemoteClassifier& c, const std::string& name = "cats.jpg") const {
    ClassifyInput in;
    in.name = name;
    in.file_bytes = photo;
    return c.prepare(in);
  }
  // The first error of the batch's outcomes.
  Error error_of(RemoteClassifier& c, const std::vector<PreparedInput>& inputs,
                 int top_k = 5) const {
    for (const auto& outcome : c.run(inputs, top_k)) {
      if (!outcome.ok()) return *outcome.error;
    }
    ADD_FAILURE() << "no error";
    return Error(ErrorKind::kInternal, "", "");
  }
  // The batch's results, each of which must have succeeded.
  std::vector<Classification> results_of(RemoteClassifier& c,
                                         const std::vector<PreparedInput>& inputs,
                                         int top_k) const {
    std::vector<Classification> out;
    for (const auto& outcome : c.run(inputs, top_k)) {
      if (!outcome.ok()) {
        ADD_FAILURE() << outcome.error->what();
        continue;
      }
      out.push_back(*outcome.result);
    }
    return out;
  }

  test::TempDir tmp;
  test::FakeInference server;
  std::vector<std::uint8_t> photo;
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
};

TEST_F(Remote, PostsTheImageBytesAndParsesTheAnswer) {
  server.script({{200, test::FakeInference::predictions_json({{"tabby, tabby cat", 0.0384},
                                                              {"Egyptian cat", 0.9374},
                                                              {"tiger cat", 0.0144}})}});
  RemoteClassifier c(options());
  EXPECT_TRUE(c.info().remote);
  EXPECT_EQ(c.info().id, "org/model");
  const auto in = input(c);
  EXPECT_EQ(in.content_type, "image/jpeg");
  const auto out = results_of(c, std::vector{in}, 2);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].top.size(), 2u);  // sorted by score, cut to top_k
  EXPECT_EQ(out[0].top[0].label, "Egyptian cat");
  EXPECT_DOUBLE_EQ(out[0].top[0].score, 0.9374);
  EXPECT_EQ(out[0].top[0].class_id, -1);
  EXPECT_EQ(out[0].top[1].label, "tabby, tabby cat");
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/models/org/model");
  EXPECT_EQ(reqs[0].header("content-type"), "image/jpeg");
  EXPECT_EQ(reqs[0].header("authorization"), "Bearer " + kToken);
  EXPECT_EQ(reqs[0].body_size, photo.size());
  ASSERT_EQ(server.bodies().size(), 1u);
  EXPECT_TRUE(server.bodies()[0] == std::string(photo.begin(), photo.end()));
}

// With candidate labels: the zero-shot-image-classification request, and the answer mapped back
// to the labels sent (class_id = their index; ties in label order; every label back: exact).
TEST_F(Remote, ZeroShotSendsTheLabelsAndMapsTheAnswer) {
  server.script({{200, test::FakeInference::predictions_json(
                           {{"a street, with no bin", 0.2}, {"a bin", 0.6}, {"a bicycle", 0.2}})}});
  RemoteOptions o = options();
  o.candidate_labels = {"a bin", "a bicycle", "a street, with no bin"};
  o.hypothesis_template = "A photo of {}.";
  RemoteClassifier c(o);
  EXPECT_TRUE(c.info().zero_shot);
  EXPECT_EQ(c.info().labels, o.candidate_labels);
  const auto out = results_of(c, std::vector{input(c)}, 3);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].top.size(), 3u);
  EXPECT_EQ(out[0].top[0].class_id, 0);
  EXPECT_EQ(out[0].top[1].class_id, 1);  // a tie: the order the labels were given
  EXPECT_EQ(out[0].top[2].class_id, 2);
  EXPECT_EQ(out[0].probabilities, (std::vector<float>{0.6f, 0.2f, 0.2f}));
  EXPECT_EQ(server.requests().at(0).header("content-type"), "application/json");
  const auto sent = nlohmann::json::parse(server.bodies().at(0));
  EXPECT_EQ(sent.at("inputs"), base64_encode(photo));
  EXPECT_EQ(sent.at("parameters").at("candidate_labels"), nlohmann::json(o.candidate_labels));
  EXPECT_EQ(sent.at("parameters").at("hypothesis_template"), "A photo of {}.");

  // A label that was not sent, or one given twice, is an error naming the photo.
  server.script({{200, R"([{"label":"a cat","score":1}])"}});
  const Error e = error_of(c, std::vector{input(c)}, 3);
  EXPECT_EQ(e.kind(), ErrorKind::kFormat);
  EXPECT_THAT(e.what(), HasSubstr("cats.jpg"));
  EXPECT_THAT(e.what(), HasSubstr("not one of the candidate labels"));
  EXPECT_THROW(parse_zero_shot_reply(R"([{"label":"a cat","score":1}])", "x.jpg", "u", -1,
                                     o.candidate_labels),
               Error);
  EXPECT_THROW(
      parse_zero_shot_reply(R"([{"label":"a bin","score":0.5},{"label":"a bin","score":0.5}])",
                            "x.jpg", "u", -1, o.candidate_labels),
      Error);
  // Only some labels back (a cut answer): no probabilities, so the bin score is a lower bound.
  EXPECT_TRUE(parse_zero_shot_reply(R"([{"label":"a bin","score":0.5}])", "x.jpg", "u", -1,
                                    o.candidate_labels)
                  .probabilities.empty());
}

TEST_F(Remote, DefaultUrlIsTheHfInferenceRouter) {
  EXPECT_EQ(default_inference_url("google/vit-base-patch16-224"),
            "https://router.huggingface.co/hf-inference/models/google/vit-base-patch16-224");
  RemoteOptions o;
  o.model_id = "google/vit-base-patch16-224";
  EXPECT_EQ(RemoteClassifier(o).url(),
            "https://router.huggingface.co/hf-inference/models/google/vit-base-patch16-224");
}

TEST_F(Remote, MoreThanFiveLabelsAreAskedForWithTheJsonForm) {
  server.script(
      {{200, test::FakeInference::predictions_json({{"a", 0.5}, {"b", 0.3}, {"c", 0.1}})}});
  RemoteClassifier c(options());
  results_of(c, std::vector{input(c)}, 10);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  const auto body = nlohmann::json::parse(server.bodies().at(0));
  EXPECT_EQ(body["parameters"]["top_k"], 10);
  EXPECT_EQ(body["inputs"].get<std::string>().size(), 4 * ((photo.size() + 2) / 3));  // base64
}

TEST_F(Remote, ModelLoading503ThenAnswer) {
  server.script(
      {{503, R"({"error": "Model org/model is currently loading", "estimated_time": 0.2})"},
       {503, R"({"error": "Model org/model is currently loading", "estimated_time": 0.1})"},
       {200, test::FakeInference::predictions_json({{"Egyptian cat", 0.9}})}});
  RemoteClassifier c(options());
  const auto out = results_of(c, std::vector{input(c)}, 5);
  EXPECT_EQ(out[0].top[0].label, "Egyptian cat");
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(190));  // waited estimated_time
}

TEST_F(Remote, ModelLoadingLongerThanTheBudgetIsAnError) {
  server.script(
      {{503, R"({"error": "Model org/model is currently loading", "estimated_time": 0.2})"}});
  auto o = options();
  o.max_loading_wait_s = 0.5;
  RemoteClassifier c(o);
  const Error e = error_of(c, {input(c)});
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("still loading"));
  EXPECT_LE(server.requests().size(), 4u);
}

TEST_F(Remote, RateLimited429HonoursRetryAfter) {
  server.script({{429, R"({"error": "Rate limit reached"})", {{"Retry-After", "1"}}},
                 {200, test::FakeInference::predictions_json({{"Egyptian cat", 0.9}})}});
  RemoteClassifier c(options());
  const auto out = results_of(c, std::vector{input(c)}, 5);
  EXPECT_EQ(out[0].top[0].label, "Egyptian cat");
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(990));  // not the 50 ms backoff
  // A Retry-After beyond what is reasonable to wait is reported instead.
  server.script({{429, "{}", {{"Retry-After", "3600"}}}});
  const Error e = error_of(c, {input(c)});
  EXPECT_THAT(e.what(), HasSubstr("429"));
  EXPECT_THAT(e.what(), HasSubstr("asks to wait"));
}

TEST_F(Remote, Repeated500sGiveUpAfterBoundedRetries) {
  server.script({{500, R"({"error": "Internal failure"})"}});
  auto o = options();
  o.max_retries = 3;
  RemoteClassifier c(o);
  const Error e = error_of(c, {input(c, "bin.jpg")});
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_EQ(e.subject(), "bin.jpg");
  EXPECT_THAT(e.what(), HasSubstr(server.url()));
  EXPECT_THAT(e.what(), HasSubstr("HTTP 500"));
  EXPECT_THAT(e.what(), HasSubstr("gave up after 4 attempts"));
  EXPECT_EQ(server.requests().size(), 4u);
}

TEST_F(Remote, ServerThatNeverAnswersTimesOut) {
  Reply silent;
  silent.never_answer = true;
  server.script({silent});
  auto o = options();
  o.timeout_s = 0.3;
  o.max_retries = 1;
  RemoteClassifier c(o);
  const Error e = error_of(c, {input(c)});
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("no answer within 0.3 s"));
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(Remote, ConnectionRefusedIsRetriedThenReported) {
  auto o = options();
  o.endpoint = "http://127.0.0.1:1/models/x";
  o.max_retries = 1;
  RemoteClassifier c(o);
  const Error e = error_of(c, {input(c)});
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("cannot connect"));
  EXPECT_THAT(e.what(), HasSubstr("gave up after 2 attempts"));
}

TEST_F(Remote, AuthenticationFailuresSayWhatToDo) {
  server.script({{401, R"({"error": "Invalid credentials in Authorization header"})"}});
  RemoteClassifier with_token(options());
  Error e = error_of(with_token, {input(with_token)});
  EXPECT_EQ(e.kind(), ErrorKind::kAuth);
  EXPECT_THAT(e.what(), HasSubstr("token was rejected"));
  EXPECT_THAT(e.what(), HasSubstr("https://huggingface.co/settings/tokens"));
  EXPECT_THAT(e.what(), Not(HasSubstr(kToken)));

  ::unsetenv("HF_TOKEN");
  RemoteClassifier without(options());
  e = error_of(without, {input(without)});
  EXPECT_THAT(e.what(), HasSubstr("none was found"));
  EXPECT_EQ(server.requests().back().header("authorization"), "");

  server.script(
      {{403, R"({"error": "This authentication method does not have sufficient permissions"})"}});
  e = error_of(without, {input(without)});
  EXPECT_EQ(e.kind(), ErrorKind::kAuth);
  EXPECT_THAT(e.what(), HasSubstr("403"));
  EXPECT_THAT(e.what(), HasSubstr("permission"));
}

TEST_F(Remote, NotFoundAndMalformedAnswers) {
  server.script({{404, R"({"error": "Model org/model does not exist"})"}});
  RemoteClassifier c(options());
  Error e = error_of(c, {input(c)});
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("no inference provider"));
  for (const std::string body :
       {"<html>Bad gateway</html>", R"({"label": "x"})", R"([{"label": 3, "score": 1}])"}) {
    server.script({{200, body}});
    e = error_of(c, {input(c)});
    EXPECT_EQ(e.kind(), ErrorKind::kFormat) << body;
    EXPECT_THAT(e.what(), HasSubstr("malformed")) << body;
  }
}

// 100k nested brackets once overflowed the stack (SIGSEGV) in the parser and in copies; as an
// answer, an error body or a 503's body they are now a one-line error.
TEST_F(Remote, DeeplyNestedRepliesAreRefusedWithoutCrashing) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string deep_error = R"({"error": )" + deep + "}";
  for (const Reply& reply : {Reply{200, deep}, Reply{400, deep_error}, Reply{503, deep_error}}) {
    server.script({reply});
    auto o = options();
    o.max_loading_wait_s = 0;
    o.max_retries = 0;
    RemoteClassifier c(o);
    const Error e = error_of(c, {input(c)});
    EXPECT_LT(std::string(e.what()).size(), 1000u) << reply.status;
    if (reply.status == 200) {
      EXPECT_THAT(e.what(), HasSubstr("nested too deep"));
    }
  }
}

// A 2 GB reply once reached 4.2 GB of memory: replies are bounded (16 MB), error bodies kept
// only up to 64 KB for their excerpt; terminal escapes in an API error never reach the line.
TEST_F(Remote, HugeRepliesAndErrorBodiesAreBounded) {
  const std::string big(17u << 20, ' ');
  server.script({{200, "[" + big + "]"}});
  auto o = options();
  o.max_retries = 0;
  RemoteClassifier c(o);
  Error e = error_of(c, {input(c)});
  EXPECT_EQ(e.kind(), ErrorKind::kTooLarge);
  EXPECT_THAT(e.what(), HasSubstr("larger than 16 MB"));
  EXPECT_THAT(e.what(), HasSubstr("cats.jpg"));  // names the image
  server.script({{400, R"({"error": "bad \u001b]0;owned\u0007\u001b[2J input)" + big + "\"}"}});
  e = error_of(c, {input(c)});
  EXPECT_LT(std::string(e.what()).size(), 1000u);
  EXPECT_EQ(std::string(e.what()).find('\x1b'), std::string::npos) << e.what();
}

// The reply parser, public for the fuzz target: the batched form and top_k.
TEST(RemoteReply, ParsesPlainAndBatchedAnswers) {
  const auto c =
      parse_inference_reply(R"([[{"label": "a", "score": 0.25}, {"label": "b", "score": 0.75}]])",
                            "p.jpg", "http://x", 1);
  ASSERT_EQ(c.top.size(), 1u);
  EXPECT_EQ(c.top[0].label, "b");
  EXPECT_THROW((void)parse_inference_reply("{}", "p.jpg", "http://x", 5), Error);
}

TEST_F(Remote, RequestsRunConcurrentlyUpToJobs) {
  Reply slow{200, test::FakeInference::predictions_json({{"Egyptian cat", 0.9}})};
  slow.delay_ms = 300;
  server.script({slow});
  auto o = options();
  o.jobs = 3;
  RemoteClassifier c(o);
  std::vector<PreparedInput> inputs;
  for (int i = 0; i < 7; ++i) inputs.push_back(input(c, "photo" + std::to_string(i) + ".jpg"));
  const auto out = results_of(c, inputs, 5);
  EXPECT_EQ(out.size(), 7u);
  EXPECT_EQ(server.requests().size(), 7u);
  EXPECT_EQ(server.max_in_flight(), 3);
}

TEST_F(Remote, OneFailureInABatchIsAttributedToItsImage) {
  const std::string ok = test::FakeInference::predictions_json({{"Egyptian cat", 0.9}});
  server.script({{200, ok}, {400, R"({"error": "cannot identify image file"})"}, {200, ok}});
  auto o = options();
  o.jobs = 1;  // deterministic order
  RemoteClassifier c(o);
  std::vector<PreparedInput> inputs{input(c, "a.jpg"), input(c, "b.jpg"), input(c, "c.jpg")};
  const auto outcomes = c.run(inputs, 5);
  ASSERT_EQ(outcomes.size(), 3u);
  ASSERT_FALSE(outcomes[1].ok());
  const Error& e = *outcomes[1].error;
  EXPECT_EQ(e.subject(), "b.jpg");
  EXPECT_EQ(e.kind(), ErrorKind::kFormat);
  EXPECT_THAT(e.what(), HasSubstr("cannot identify image file"));
  // The others of the batch have their results, from one request each.
  ASSERT_TRUE(outcomes[0].ok());
  ASSERT_TRUE(outcomes[2].ok());
  EXPECT_EQ(outcomes[0].result->top[0].label, "Egyptian cat");
  EXPECT_EQ(outcomes[2].result->top[0].label, "Egyptian cat");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(Remote, OfflineModeRefusesTheRemoteBackend) {
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  try {
    RemoteClassifier c(options());
    FAIL() << "constructed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kOffline);
  }
  EXPECT_TRUE(server.requests().empty());
}

}  // namespace
}  // namespace binscan

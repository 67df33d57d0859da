// The Inference API contract as serve/api.h reads and writes it, without sockets: request bodies
// (raw bytes, JSON with base64, data: URIs, parameters), answers and errors, the token check and
// the names models are served under.
#include "serve/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "util/text.h"

namespace binscan::serve {
namespace {

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

int status_of(std::string_view body, std::string_view type = "application/json") {
  try {
    parse_classification_request(body, type);
  } catch (const ApiError& e) {
    return e.status();
  }
  return 200;
}

TEST(ServeApi, RawBodyIsTheImage) {
  const std::string jpeg = "\xFF\xD8\xFF\xE0 not really";
  const auto r = parse_classification_request(jpeg, "application/x-www-form-urlencoded");
  EXPECT_EQ(r.image, bytes(jpeg));
  EXPECT_EQ(r.top_k, 5);
  EXPECT_FALSE(r.function.has_value());
  EXPECT_EQ(parse_classification_request(jpeg, "").image, bytes(jpeg));
}

TEST(ServeApi, JsonInputsAreBase64WithParameters) {
  const std::string image = "\x89PNG\r\n\x1a\n....";
  const std::string b64 = base64_encode(bytes(image));
  const nlohmann::json body{{"inputs", b64},
                            {"parameters", {{"top_k", 3}, {"function_to_apply", "sigmoid"}}}};
  // Recognised by Content-Type, or by the body's first byte when the type says nothing useful.
  for (const char* type : {"application/json", "application/json; charset=utf-8", ""}) {
    const auto r = parse_classification_request(body.dump(), type);
    EXPECT_EQ(r.image, bytes(image)) << type;
    EXPECT_EQ(r.top_k, 3);
    EXPECT_EQ(r.function, ScoreFunction::kSigmoid);
  }
  // A browser's FileReader gives a data: URI; JavaScript numbers may be 2.0.
  const nlohmann::json uri{{"inputs", "data:image/png;base64," + b64},
                           {"parameters", {{"top_k", 2.0}, {"function_to_apply", "none"}}}};
  const auto r = parse_classification_request(uri.dump(), "application/json");
  EXPECT_EQ(r.image, bytes(image));
  EXPECT_EQ(r.top_k, 2);
  EXPECT_EQ(r.function, ScoreFunction::kNone);
  // null parameters are the defaults.
  const auto d = parse_classification_request(
      nlohmann::json{{"inputs", b64}, {"parameters", nullptr}}.dump(), "application/json");
  EXPECT_EQ(d.top_k, 5);
}

TEST(ServeApi, BadRequestsAre400WithTheReason) {
  EXPECT_EQ(status_of("", "image/jpeg"), 400);                        // no body
  EXPECT_EQ(status_of("{not json"), 400);                             // broken JSON
  EXPECT_EQ(status_of("[1, 2]"), 400);                                // not an object
  EXPECT_EQ(status_of(R"({"parameters": {}})"), 400);                 // no inputs
  EXPECT_EQ(status_of(R"({"inputs": 42})"), 400);                     // not a string
  EXPECT_EQ(status_of(R"({"inputs": "@@@@"})"), 400);                 // not base64
  EXPECT_EQ(status_of(R"({"inputs": ""})"), 400);                     // empty
  EXPECT_EQ(status_of(R"({"inputs": "data:image/png,AAAA"})"), 400);  // not ;base64
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": [1]})"), 400);
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": {"top_k": 0}})"), 400);
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": {"top_k": 2.5}})"), 400);
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": {"top_k": "5"}})"), 400);
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": {"function_to_apply": "relu"}})"), 400);
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": {"function_to_apply": 1}})"), 400);
  EXPECT_EQ(status_of(R"({"inputs": "AAAA", "parameters": {"top_k": 1, "other": 1}})"), 200);
  // Deep nesting is refused before parsing (no stack overflow on a hostile body).
  EXPECT_EQ(status_of("{\"inputs\": " + std::string(100000, '[')), 400);
  try {
    parse_classification_request(R"({"inputs": "AAAA", "parameters": {"top_k": -3}})", "");
    FAIL() << "top_k -3 accepted";
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("top_k"), std::string::npos) << e.what();
  }
}

TEST(ServeApi, AnswersHaveTheApiShape) {
  const std::vector<Prediction> preds = {{"tabby, tabby cat", 281, 0.75},
                                         {"Egyptian cat", 285, 0.125}};
  const auto j = nlohmann::json::parse(predictions_body(preds));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0], (nlohmann::json{{"label", "tabby, tabby cat"}, {"score", 0.75}}));
  EXPECT_EQ(j[1]["score"].get<double>(), 0.125);
  EXPECT_EQ(j[0].size(), 2u);  // exactly label and score, as the API
  const auto e = nlohmann::json::parse(error_body("bad \"image\"\n"));
  EXPECT_EQ(e, (nlohmann::json{{"error", "bad \"image\"\n"}}));
  // Invalid UTF-8 in a label still gives valid JSON.
  EXPECT_NO_THROW(nlohmann::json::parse(predictions_body({{"\xff", 0, 0.5}})));
}

TEST(ServeApi, BearerTokenCheck) {
  EXPECT_TRUE(bearer_token_matches("Bearer s3cret-token", "s3cret-token"));
  EXPECT_TRUE(bearer_token_matches("bearer s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-tokem", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret-token2", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Basic s3cret-token", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("", "s3cret-token"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));
}

TEST(ServeApi, ServedNames) {
  ModelInfo m;
  m.id = "google/vit-base-patch16-224";
  EXPECT_EQ(served_name(m), "google/vit-base-patch16-224");
  m.id = "./checkpoints/vit-tiny/";
  EXPECT_EQ(served_name(m), "vit-tiny");
  m.id = "/abs/resnet";
  EXPECT_EQ(served_name(m), "resnet");
}

TEST(ServeApi, ScoreFunctionsByName) {
  EXPECT_EQ(parse_score_function("softmax"), ScoreFunction::kSoftmax);
  EXPECT_EQ(parse_score_function("sigmoid"), ScoreFunction::kSigmoid);
  EXPECT_EQ(parse_score_function("none"), ScoreFunction::kNone);
  EXPECT_FALSE(parse_score_function("Softmax").has_value());
  const std::vector<float> logits = {1.5f, -2.0f, 0.25f};
  EXPECT_EQ(class_scores(logits, ScoreFunction::kNone), logits);
  const auto top = top_predictions(class_scores(logits, ScoreFunction::kNone), {"a", "b", "c"}, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].label, "a");
  EXPECT_EQ(top[1].label, "c");
  EXPECT_FLOAT_EQ(top[1].score, 0.25f);
}

}  // namespace
}  // namespace binscan::serve

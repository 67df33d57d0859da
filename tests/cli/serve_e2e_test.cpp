// binscan serve end to end: the real program on a free port, asked by real clients — curl,
// Python's requests (the course's Inference API script), the Hugging Face JavaScript client and
// a browser driving the page — each of which must get exactly what `binscan classify` prints.
// Also the API's errors, back-pressure, a clean stop on SIGTERM, the public-address guard and
// the survey pages.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "image/encode.h"
#include "support/serve_process.h"
#include "support/test_support.h"
#include "util/file.h"

extern char** environ;

namespace binscan {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "t0ken-for-tests-7f3a";

std::vector<std::string> photos() {
  const auto d = test::photos_dir();
  return {(d / "coco-000000039769.jpeg").string(),
          (d / "bike" / "20220119_175431.jpg").string(),  // 4032x3024, EXIF orientation 6
          (d / "trash-bin" / "PXL_20220119_105237021.jpg").string()};
}

using test::json_lines;

using test::ServeProcess;

class ServeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    // 1000 labels each, so ImageNet's trash-can class (412) exists for the verdict.
    test::run_python("make_checkpoint.py", {"--preset", "tiny-vit-224", "--num-labels", "1000",
                                            "--out", (dir_->path() / "vit").string()});
    test::run_python("make_checkpoint.py", {"--preset", "tiny-resnet-basic", "--num-labels", "1000",
                                            "--out", (dir_->path() / "resnet").string()});
    std::ofstream(dir_->path() / "token") << kToken << "\n";
    // What `binscan classify` prints: the reference every client must match.
    for (const char* model : {"vit", "resnet"}) {
      std::vector<std::string> args{"classify", "--model", (dir_->path() / model).string(),
                                    "--format", "jsonl"};
      for (const auto& p : photos()) args.push_back(p);
      const auto r = test::run_binscan(args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      for (const auto& line : json_lines(r.out)) {
        (*expected_)[model][line.at("image").get<std::string>()] = line.at("predictions");
      }
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path model(const char* name) { return dir_->path() / name; }
  static fs::path token_file() { return dir_->path() / "token"; }
  static const json& expected(const std::string& model, const std::string& photo) {
    return expected_->at(model).at(photo);
  }
  // Both models, with the token required.
  std::unique_ptr<ServeProcess> serve(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
        "-m", model("vit").string(), "-m", model("resnet").string(), "--bin-label", "412"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto s = std::make_unique<ServeProcess>(tmp_, args);
    EXPECT_TRUE(s->running()) << s->log();
    return s;
  }

  test::TempDir tmp_;
  static test::TempDir* dir_;
  static std::map<std::string, json>* expected_;
};
test::TempDir* ServeCli::dir_ = nullptr;
std::map<std::string, json>* ServeCli::expected_ = new std::map<std::string, json>();

httplib::Headers bearer(const std::string& token = kToken) {
  return {{"Authorization", "Bearer " + token}};
}

// A raw TCP connection, for requests no HTTP client library would send.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConnection() { close(fd_); }
  bool connected() const { return connected_; }
  bool send_text(std::string_view s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  void end_sending() { shutdown(fd_, SHUT_WR); }
  // Everything the server sends until it closes, or "" after `timeout` without closing.
  std::optional<std::string> read_until_closed(std::chrono::milliseconds timeout) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

TEST_F(ServeCli, CurlAndPythonRequestsGetWhatClassifyPrints) {
  auto s = serve({"--token-file", token_file().string(), "--threads", "2"});
  ASSERT_TRUE(s->running());
  for (const char* m : {"vit", "resnet"}) {
    SCOPED_TRACE(m);
    for (const auto& photo : photos()) {
      SCOPED_TRACE(photo);
      // (c) curl --data-binary, as the Inference API docs show it.
      const auto r = test::run_command(
          {"curl", "-sS", "--fail-with-body", "-H", std::string("Authorization: Bearer ") + kToken,
           "--data-binary", "@" + photo, s->url(std::string("/models/") + m)});
      ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
      EXPECT_EQ(json::parse(r.out), expected(m, photo));
    }
    // (a) the course's script: Python requests, Bearer token, the photo's bytes.
    std::vector<std::string> args{s->url(std::string("/hf-inference/models/") + m),
                                  token_file().string()};
    for (const auto& p : photos()) args.push_back(p);
    const auto py = test::run_python("hf_api_client.py", args);
    const auto lines = json_lines(py.out);
    ASSERT_EQ(lines.size(), photos().size()) << py.err;
    for (const auto& line : lines) {
      EXPECT_EQ(line.at("status"), 200);
      EXPECT_EQ(line.at("answer"), expected(m, line.at("image").get<std::string>()));
    }
  }
  // The request log: one line per request, never the token.
  const std::string log = s->log();
  EXPECT_NE(log.find("serve: POST /models/vit 200"), std::string::npos) << log;
  EXPECT_NE(log.find("serve: POST /hf-inference/models/resnet 200"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos) << log;
  EXPECT_EQ(s->stop(), 0) << s->log();
}

TEST_F(ServeCli, HuggingFaceJavaScriptClientGetsWhatClassifyPrints) {
  // @huggingface/inference from npm (tests/reference/install-hf-js; scripts/test installs it).
  const fs::path package = test::source_dir() / "build" / "hf-js";
  const bool required = std::getenv("BINSCAN_REQUIRE_HF_JS") != nullptr;
  if (!fs::exists(package / "node_modules" / "@huggingface" / "inference")) {
    if (required) FAIL() << "@huggingface/inference is not installed in " << package;
    GTEST_SKIP() << "run tests/reference/install-hf-js to test the JavaScript client";
  }
  auto s = serve({"--token-file", token_file().string()});
  ASSERT_TRUE(s->running());
  std::vector<std::string> args{"node", (test::reference_dir() / "hf_js_client.mjs").string(),
                                package.string(), s->url("/models/vit"), token_file().string()};
  for (const auto& p : photos()) args.push_back(p);
  const auto r = test::run_command(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), photos().size());
  for (const auto& line : lines) {
    EXPECT_EQ(line.at("answer"), expected("vit", line.at("image").get<std::string>()));
  }
  EXPECT_EQ(s->stop(), 0);
}

TEST_F(ServeCli, ErrorsAreTheInferenceApis) {
  auto s = serve({"--token-file", token_file().string(), "--max-body-mb", "0.1"});
  ASSERT_TRUE(s->running());
  auto c = s->client();
  const std::string small = read_text_file(test::photos_dir() / "coco-000000039769.jpeg");
  ASSERT_GT(small.size(), 100u * 1024);  // over the 0.1 MiB limit below
  const auto error_of = [](const httplib::Result& r) {
    return json::parse(r->body).at("error").get<std::string>();
  };
  // 401: no token, a wrong one; the page and /health need none.
  auto r = c.Post("/models/vit", small, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(error_of(r).find("Authorization"), std::string::npos);
  r = c.Post("/models/vit", bearer("wrong"), small, "image/jpeg");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(c.Get("/models")->status, 401);
  EXPECT_EQ(c.Get("/")->status, 200);
  EXPECT_EQ(json::parse(c.Get("/health")->body).at("token_required"), true);
  // 413: over --max-body-mb, by Content-Length.
  r = c.Post("/models/vit", bearer(), small, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_FALSE(error_of(r).empty());
  // 404: a model that is not loaded, names the loaded ones.
  r = c.Post("/models/google/vit-base-patch16-224", bearer(), "x", "image/jpeg");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(error_of(r).find("vit, resnet"), std::string::npos) << r->body;
  // 400: not an image; bad JSON; bad parameters.
  r = c.Post("/models/vit", bearer(), "hello, not an image", "application/octet-stream");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(error_of(r).find("not a JPEG, PNG or WebP"), std::string::npos) << r->body;
  r = c.Post("/models/vit", bearer(), "{\"inputs\": ", "application/json");
  EXPECT_EQ(r->status, 400);
  r = c.Post("/models/vit", bearer(), R"({"inputs": "AAAA", "parameters": {"top_k": 0}})",
             "application/json");
  EXPECT_EQ(r->status, 400);
  // Nothing from disk by path; unknown routes are JSON 404s.
  for (const char* path :
       {"/../../../../etc/passwd", "/models/../../etc/passwd", "/survey", "/static/index.html"}) {
    r = c.Get(path, bearer());
    ASSERT_TRUE(r) << path;
    EXPECT_TRUE(r->status == 404 || r->status == 400) << path << " " << r->status;
    EXPECT_EQ(r->body.find("root:"), std::string::npos);
  }
  // /models lists what is loaded.
  const auto models = json::parse(c.Get("/models", bearer())->body);
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].at("id"), "vit");
  EXPECT_EQ(models[1].at("task"), "image-classification");
  EXPECT_EQ(s->stop(), 0);
}

TEST_F(ServeCli, JsonRequestsWithParameters) {
  auto s = serve();
  ASSERT_TRUE(s->running());
  auto c = s->client();
  const std::string photo = photos()[0];
  const std::string bytes = read_text_file(photo);
  const auto b64 = test::run_command({"base64", "-w0", photo}).out;
  // {"inputs": base64} with no parameters: the same as the raw bytes.
  auto r = c.Post("/models/resnet", json{{"inputs", b64}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body), expected("resnet", photo));
  // top_k 2: the first two. function_to_apply none: logits, in the same order as softmax's.
  r = c.Post(
      "/models/resnet",
      json{{"inputs", b64}, {"parameters", {{"top_k", 2}, {"function_to_apply", "none"}}}}.dump(),
      "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  const auto logits = json::parse(r->body);
  ASSERT_EQ(logits.size(), 2u);
  EXPECT_EQ(logits[0].at("label"), expected("resnet", photo)[0].at("label"));
  EXPECT_EQ(logits[1].at("label"), expected("resnet", photo)[1].at("label"));
  // softmax(l)_0 / softmax(l)_1 = exp(l_0 - l_1).
  const double ratio = expected("resnet", photo)[0].at("score").get<double>() /
                       expected("resnet", photo)[1].at("score").get<double>();
  EXPECT_NEAR(std::exp(logits[0].at("score").get<double>() - logits[1].at("score").get<double>()),
              ratio, 1e-5 * ratio);
  r = c.Post("/models/resnet",
             json{{"inputs", b64}, {"parameters", {{"function_to_apply", "sigmoid"}}}}.dump(),
             "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  const double l0 = logits[0].at("score").get<double>();
  EXPECT_NEAR(json::parse(r->body)[0].at("score").get<double>(), 1 / (1 + std::exp(-l0)), 1e-6);
  // The page's endpoint: every model, the bin verdict, what the model sees, the photo's EXIF.
  const std::string gps_photo = photos()[2];
  r = c.Post("/binscan/analyze", read_text_file(gps_photo), "image/jpeg");
  ASSERT_EQ(r->status, 200) << r->body;
  const auto a = json::parse(r->body);
  EXPECT_TRUE(a.at("photo").at("gps").is_object()) << a.at("photo").dump();
  EXPECT_TRUE(a.at("photo").at("bearing").is_number());
  ASSERT_EQ(a.at("models").size(), 2u);
  for (const auto& m : a.at("models")) {
    const std::string name = m.at("model");
    EXPECT_EQ(m.at("predictions"), expected(name, gps_photo));
    EXPECT_TRUE(m.at("bin_score").is_number());
    EXPECT_EQ(m.at("bin_verdict"), m.at("bin_score").get<double>() >= 0.1);
    EXPECT_TRUE(m.at("view").get<std::string>().starts_with("data:image/png;base64,"));
  }
  EXPECT_EQ(s->stop(), 0);
}

TEST_F(ServeCli, AFullQueueAnswers503WithRetryAfter) {
  auto s = serve({"--queue", "1", "--batch", "1", "--threads", "1", "--quiet"});
  ASSERT_TRUE(s->running());
  const std::string photo = photos()[1];  // 12 MP: a while to decode, so requests overlap
  const std::string bytes = read_text_file(photo);
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back([&] {
      auto c = s->client();
      const auto r = c.Post("/models/vit", bytes, "image/jpeg");
      if (r && r->status == 200 && json::parse(r->body) == expected("vit", photo)) {
        ++ok;
      } else if (r && r->status == 503 && r->get_header_value("Retry-After") == "1" &&
                 json::parse(r->body).contains("error")) {
        ++busy;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other, 0);
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1) << "12 requests at once with --queue 1 should have been refused";
  EXPECT_EQ(s->stop(), 0);
}

TEST_F(ServeCli, SigtermAnswersRequestsInFlightThenExitsZero) {
  auto s = serve({"--threads", "1"});
  ASSERT_TRUE(s->running());
  const std::string photo = photos()[1];
  const std::string bytes = read_text_file(photo);
  std::atomic<int> answered{0}, wrong{0};
  std::atomic<bool> started{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      auto c = s->client();
      started = true;
      const auto r = c.Post("/models/vit", bytes, "image/jpeg");
      if (!r) return;  // connected after the stop: refused, which is fine
      if (r->status == 200 && json::parse(r->body) == expected("vit", photo)) {
        ++answered;
      } else {
        ++wrong;
      }
    });
  }
  while (!started) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(150ms);  // the requests are being decoded or run
  EXPECT_EQ(s->stop(SIGTERM), 0) << s->log();
  for (auto& t : clients) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_GE(answered, 1);
  EXPECT_NE(s->log().find("binscan serve: stopped"), std::string::npos) << s->log();
}

TEST_F(ServeCli, PublicAddressNeedsAToken) {
  ServeProcess open(tmp_, {"-m", model("vit").string(), "--host", "0.0.0.0"});
  EXPECT_FALSE(open.running());
  EXPECT_EQ(open.exit_code(), 2);
  EXPECT_NE(open.log().find("--token-file"), std::string::npos) << open.log();
  // With a token it starts (on all addresses).
  ServeProcess guarded(tmp_, {"-m", model("vit").string(), "--host", "0.0.0.0", "--token-file",
                              token_file().string()});
  EXPECT_TRUE(guarded.running()) << guarded.log();
  // A port in use is one clear line.
  const auto r = test::run_binscan(
      {"serve", "-m", model("vit").string(), "--port", std::to_string(guarded.port())});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot listen"), std::string::npos) << r.err;
  EXPECT_EQ(guarded.stop(), 0);
}

TEST_F(ServeCli, SurveyPagesAreTheReportAndTheMap) {
  const auto db = tmp_ / "survey.db";
  auto scan = test::run_binscan({"scan", (test::photos_dir() / "trash-bin").string(), "--db",
                                 db.string(), "-m", model("vit").string(), "-m",
                                 model("resnet").string(), "--bin-label", "412"});
  ASSERT_EQ(scan.exit_code, 0) << scan.err;
  const auto report = tmp_ / "report.html";
  const auto map = tmp_ / "bins.html";
  ASSERT_EQ(
      test::run_binscan({"compare", "--db", db.string(), "--html", report.string()}).exit_code, 0);
  ASSERT_EQ(test::run_binscan({"locate", "--db", db.string(), "--html", map.string()}).exit_code,
            0);
  auto s = serve({"--db", db.string()});
  ASSERT_TRUE(s->running());
  auto c = s->client();
  const auto r = c.Get("/survey");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->body, read_text_file(report));  // the same code as compare --html
  const auto m = c.Get("/survey/map");
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(m->body, read_text_file(map));
  EXPECT_NE(c.Get("/")->body.find("survey.db"), std::string::npos);
  // The served map works in a browser as the file does (offline: tiles refused).
  if (test::browser_installed()) {
    const fs::path artefacts = test::source_dir() / "build" / "test-artifacts";
    fs::create_directories(artefacts);
    const auto bins = test::map_page_data(m->body)["bins"].size();
    const auto check = test::run_python(
        "map_page_check.py", {s->url("/survey/map"), "--bins", std::to_string(bins), "--screenshot",
                              (artefacts / "serve-map.png").string()});
    EXPECT_EQ(check.exit_code, 0) << check.err;
  } else if (test::browser_required()) {
    ADD_FAILURE() << "chromium and chromium-driver are not installed";
  }
  EXPECT_EQ(s->stop(), 0);
}

TEST_F(ServeCli, ThePageInHeadlessChromium) {
  if (!test::browser_installed()) {
    if (test::browser_required()) FAIL() << "chromium and chromium-driver are not installed";
    GTEST_SKIP() << "needs chromium + chromium-driver (scripts/install-deps --with-browser)";
  }
  auto s = serve({"--token-file", token_file().string()});
  ASSERT_TRUE(s->running());
  const fs::path artefacts = test::source_dir() / "build" / "test-artifacts";
  fs::create_directories(artefacts);
  std::vector<std::string> args{s->url("/"), "--token", kToken, "--screenshot",
                                (artefacts / "serve-page.png").string()};
  for (const auto& p : photos()) args.push_back(p);
  const auto garbage = tmp_ / "undecodable.jpg";
  write_file_atomically(garbage, std::string_view("this is not a photo"));
  args.push_back(garbage.string());
  const auto r = test::run_python("serve_page_check.py", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto shown = json::parse(r.out);
  ASSERT_EQ(shown.size(), photos().size() + 1) << r.out;
  EXPECT_NE(shown.at("undecodable.jpg").at("error").get<std::string>().find("not a JPEG"),
            std::string::npos);
  for (const auto& photo : photos()) {
    const std::string name = fs::path(photo).filename().string();
    SCOPED_TRACE(name);
    for (const char* m : {"vit", "resnet"}) {
      const auto& got = shown.at(name).at(m);
      EXPECT_EQ(got.at("predictions"), expected(m, photo));
      EXPECT_TRUE(got.at("view").get<bool>());
    }
  }
  EXPECT_EQ(s->stop(), 0);
}

TEST_F(ServeCli, HostileRequestsGetTheirStatusAndServingGoesOn) {
  auto s = serve({"--io-timeout", "2", "--quiet"});
  ASSERT_TRUE(s->running());
  const std::string photo = photos()[0];
  const std::string bytes = read_text_file(photo);
  const auto still_serving = [&] {
    auto c = s->client();
    const auto r = c.Post("/models/vit", bytes, "image/jpeg");
    return r && r->status == 200 && json::parse(r->body) == expected("vit", photo);
  };
  // Slow senders (slow-loris): one drips a header byte every 100 ms, one stops halfway through
  // its headers. Others are served meanwhile, and the stalled one is closed after --io-timeout
  // (2 s here) of silence.
  RawConnection dripping(s->port()), stalled(s->port());
  ASSERT_TRUE(dripping.connected() && stalled.connected());
  std::atomic<bool> done{false};
  std::thread drip([&] {
    dripping.send_text("POST /models/vit HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    for (int i = 0; i < 100 && !done; ++i) {
      if (!dripping.send_text("a")) break;
      std::this_thread::sleep_for(100ms);
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  stalled.send_text("POST /models/vit HTTP/1.1\r\nHost: localhost\r\nX-Half: ");
  EXPECT_TRUE(still_serving());
  EXPECT_TRUE(stalled.read_until_closed(15s).has_value()) << "a stalled sender was kept open";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 12s);
  EXPECT_TRUE(still_serving());
  done = true;
  drip.join();
  // A truncated body: Content-Length promises more than comes before the client stops sending.
  {
    RawConnection c(s->port());
    c.send_text(
        "POST /models/vit HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        "Content-Length: 100000\r\n\r\n" +
        bytes.substr(0, 1000));
    c.end_sending();
    const auto answer = c.read_until_closed(15s);
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->find("200 OK"), std::string::npos) << *answer;
  }
  // Garbage instead of HTTP.
  {
    RawConnection c(s->port());
    c.send_text(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n");
    c.end_sending();
    EXPECT_TRUE(c.read_until_closed(15s).has_value());
  }
  auto c = s->client();
  // Wrong content types: an image called text is still an image; JSON that is not JSON is 400.
  auto r = c.Post("/models/vit", bytes, "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), expected("vit", photo));
  r = c.Post("/models/vit", bytes, "application/json");
  EXPECT_EQ(r->status, 400);
  r = c.Post("/models/vit", R"({"inputs": "not*base64!"})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body).at("error").get<std::string>().find("base64"), std::string::npos);
  r = c.Post("/models/vit", bytes.substr(0, bytes.size() / 2), "image/jpeg");  // half a JPEG
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status == 200 || r->status == 400) << r->status;  // libjpeg pads, or refuses
  EXPECT_TRUE(still_serving());
  EXPECT_EQ(s->stop(), 0);
}

// 10,000 requests over 64 keep-alive connections at once (bench/serve/load.py: Python requests,
// a small PNG so it takes seconds): every answer right, no error but the intended 503s, and
// memory flat: RSS after the run within 10% of RSS after the first 2,000 requests (after 100 it
// was once 10.9% below the end, with no leak: the allocator's per-thread arenas of the 64
// connections' threads still filling; a leak of 2 KB per request still fails). Skipped under the
// sanitizers (the Release run covers it).
TEST_F(ServeCli, ServeLoadSlow) {
#if defined(BINSCAN_UNDER_SANITIZER)
  GTEST_SKIP() << "load test: Release only";
#endif
  Image img(48, 40);
  for (std::size_t k = 0; k < img.pixels.size(); ++k) {
    img.pixels[k] = static_cast<std::uint8_t>((k * 29) % 251);
  }
  const auto png = tmp_ / "small.png";
  const auto png_bytes = encode_png(img);
  write_file_atomically(
      png, std::string_view(reinterpret_cast<const char*>(png_bytes.data()), png_bytes.size()));
  const auto ref = test::run_binscan(
      {"classify", "--model", model("vit").string(), "--format", "jsonl", png.string()});
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  const auto want = tmp_ / "want.json";
  write_file_atomically(want, json_lines(ref.out).at(0).at("predictions").dump());

  auto s = serve({"--quiet"});
  ASSERT_TRUE(s->running());
  const auto load = [&](int total) {
    const auto r = test::run_command({test::kPython,
                                      (test::source_dir() / "bench" / "serve" / "load.py").string(),
                                      s->url("/models/vit"), "64", std::to_string(total),
                                      png.string(), "--expect", want.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out).at("status");
  };
  const json first = load(2000);
  const long rss_warm = s->rss_kb();
  const json rest = load(8000);
  const long rss_end = s->rss_kb();
  int ok = 0, busy = 0;
  for (const json& st : {first, rest}) {
    EXPECT_FALSE(st.contains("unexpected")) << st.dump();
    ok += st.value("200", 0);
    busy += st.value("503", 0);
  }
  EXPECT_EQ(ok + busy, 10000);
  EXPECT_GT(ok, 5000);
  EXPECT_LE(rss_end, rss_warm * 11 / 10) << "RSS grew from " << rss_warm << " kB to " << rss_end;
  std::printf(
      "10,000 requests: %d answered, %d busy (503); RSS %ld kB after 2,000, %ld after all\n", ok,
      busy, rss_warm, rss_end);
  EXPECT_EQ(s->stop(), 0);
}

}  // namespace
}  // namespace binscan

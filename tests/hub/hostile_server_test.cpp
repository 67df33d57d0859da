// Hostile servers on 127.0.0.1 (issue 10): bounded bodies, refused redirects, the overall
// download deadline, shard names, and the messages that used to mislead.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "hub/http.h"
#include "hub/hub.h"
#include "hub/hub_test_util.h"
#include "util/error.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using test::kCommitA;
using ::testing::HasSubstr;

using test::error_of;

// Streams `total` bytes of 'x' in 64 KiB pieces with `status`, without holding them.
void stream_bytes(httplib::Response& res, int status, std::size_t total) {
  res.status = status;
  res.set_content_provider(total, "application/json",
                           [total](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                             static const std::string piece(64 << 10, 'x');
                             const std::size_t n = std::min(piece.size(), total - offset);
                             return sink.write(piece.data(), n);
                           });
}

TEST(HttpBodies, AReplyOverItsLimitIsOneErrorNotUnboundedMemory) {
  test::HttpServer server;
  server.server().Get("/big", [](const httplib::Request&, httplib::Response& res) {
    stream_bytes(res, 200, std::size_t{64} << 20);  // 64 MB
  });
  server.server().Get("/bigerror", [](const httplib::Request&, httplib::Response& res) {
    stream_bytes(res, 500, std::size_t{64} << 20);
  });
  server.start();
  http::Request req;
  req.url = server.url() + "/big";
  req.max_body_bytes = 1 << 20;
  const Error e = error_of([&] { (void)http::perform(req); });
  EXPECT_EQ(e.kind(), ErrorKind::kTooLarge);
  EXPECT_THAT(e.what(), HasSubstr("larger than 1 MB"));

  req.url = server.url() + "/bigerror";
  const http::Response r = http::perform(req);  // the status still comes back, with an excerpt
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.size(), http::kDefaultMaxErrorBody);
  EXPECT_TRUE(r.body_truncated);
}

TEST(HttpBodies, HugeHeadersAreNotReportedAsOutOfMemory) {
  test::HttpServer server;
  server.server().Get("/h", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Big", std::string(200 << 10, 'a'));
    res.set_content("{}", "application/json");
  });
  server.start();
  http::Request req;
  req.url = server.url() + "/h";
  const Error e = error_of([&] { (void)http::perform(req); });
  EXPECT_THAT(e.what(), HasSubstr("response header too large"));
  EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("Out of memory")));
}

TEST(HttpBodies, AFileRedirectIsRefusedAtOnce) {
  test::HttpServer server;
  server.server().Get("/r", [](const httplib::Request&, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", "file:///etc/passwd");
  });
  server.start();
  http::Request req;
  req.url = server.url() + "/r";
  req.follow_redirects = true;
  const Error e = error_of([&] { (void)http::perform(req); });
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);  // not kNetwork: never retried
  EXPECT_THAT(e.what(), HasSubstr("only http and https"));
  EXPECT_EQ(server.requests().size(), 1u);
}

using HostileHub = test::HubTest;

HubOptions quiet() {
  HubOptions o;
  o.show_progress = false;
  return o;
}

TEST_F(HostileHub, ADribblingDownloadHitsTheDeadlineScaledToItsSize) {
  hub.piece_delay_ms = 700;  // 300 KB in 64 KiB pieces: over 3 s, never a stall
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  env.set("HF_HUB_DOWNLOAD_TIMEOUT", "0.2");           // 6 x 0.2 s ...
  env.set("BINSCAN_DOWNLOAD_MIN_RATE", "1000000000");  // ... + 300 KB at 1 GB/s: about 1.2 s
  const auto start = std::chrono::steady_clock::now();
  const Error e = error_of([&] { (void)resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("deadline"));
  EXPECT_THAT(e.what(), HasSubstr("300000 announced bytes"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(HostileHub, ShardNamesAreRefusedByTheDownloaderAsByTheLoader) {
  for (const std::string bad : {"sub/x.safetensors", "/etc/passwd", "../x.safetensors"}) {
    test::FakeHub::Commit c = test::tiny_model(kCommitA);
    c.files.erase("model.safetensors");
    c.files["model.safetensors.index.json"] = R"({"weight_map": {"a": ")" + bad + R"("}})";
    const std::string repo = "org/s" + std::to_string(bad.size());
    hub.add_commit(repo, c);
    hub.set_branch(repo, "main", kCommitA);
    const Error e = error_of([&] { (void)resolve_model(repo, quiet()); });
    EXPECT_EQ(e.kind(), ErrorKind::kFormat) << bad;
    EXPECT_THAT(e.what(), HasSubstr("invalid shard name")) << bad;
  }
  // A NUL in the name used to report success without fetching anything.
  test::FakeHub::Commit c = test::tiny_model(kCommitA);
  c.files.erase("model.safetensors");
  c.files["model.safetensors.index.json"] = R"({"weight_map": {"a": "x\u0000.safetensors"}})";
  hub.add_commit("org/nul", c);
  hub.set_branch("org/nul", "main", kCommitA);
  EXPECT_EQ(error_of([&] { (void)resolve_model("org/nul", quiet()); }).kind(), ErrorKind::kFormat);
}

TEST_F(HostileHub, ModelsDoesNotCallAShardOutsideTheSnapshotReady) {
  // A cache laid out by hand whose index names /etc/passwd (which exists).
  const fs::path repo = cache() / "models--org--evil";
  const fs::path snap = repo / "snapshots" / kCommitA;
  fs::create_directories(snap);
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << kCommitA;
  std::ofstream(snap / "config.json") << "{}";
  std::ofstream(snap / "preprocessor_config.json") << "{}";
  std::ofstream(snap / "model.safetensors.index.json") << R"({"weight_map": {"a": "/etc/passwd"}})";
  const auto models = scan_cache();
  ASSERT_EQ(models.size(), 1u);
  ASSERT_EQ(models[0].revisions.size(), 1u);
  EXPECT_FALSE(models[0].revisions[0].complete);
}

}  // namespace
}  // namespace binscan

namespace binscan {
namespace {

TEST_F(HostileHub, ASizeMismatchSaysHowManyBytesCame) {
  hub.announce_extra_bytes = 10;
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  const Error e = error_of([&] { (void)resolve_model("org/tiny", quiet()); });
  EXPECT_THAT(e.what(), HasSubstr("received 300000 bytes, but the Hub announced 300010"));
}

}  // namespace
}  // namespace binscan

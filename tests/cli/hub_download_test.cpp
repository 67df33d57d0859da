// `binscan download` and `binscan models` end to end, against a fake Hub on 127.0.0.1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/fake_hub.h"
#include "support/test_support.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string random_bytes(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  unsigned x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

test::FakeHub::Commit tiny_model(std::size_t weight_bytes = 300000) {
  test::FakeHub::Commit c;
  c.hash = kCommit;
  c.files["config.json"] = R"({"architectures": ["ViTForImageClassification"]})";
  c.files["preprocessor_config.json"] = R"({"do_resize": true})";
  c.files["model.safetensors"] = random_bytes(weight_bytes, 5);
  return c;
}

// Every file under `dir` (following no links), read as bytes.
std::vector<std::pair<fs::path, std::string>> all_files(const fs::path& dir) {
  std::vector<std::pair<fs::path, std::string>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && !e.is_symlink()) {
      std::ifstream in(e.path(), std::ios::binary);
      out.emplace_back(e.path(), std::string(std::istreambuf_iterator<char>(in), {}));
    }
  }
  return out;
}

class HubCli : public ::testing::Test {
 protected:
  std::vector<std::string> env(const std::vector<std::string>& extra = {}) const {
    auto e = test::hub_test_env((tmp / "hf").string(), hub.endpoint(), "");
    e.insert(e.end(), extra.begin(), extra.end());
    return e;
  }
  test::CommandResult binscan(std::vector<std::string> args,
                              const std::vector<std::string>& extra = {}) const {
    return test::run_binscan(args, env(extra));
  }
  fs::path snapshot() const {
    return tmp / "hf" / "hub" / "models--org--tiny" / "snapshots" / kCommit;
  }

  test::TempDir tmp;
  test::FakeHub hub;
};

TEST_F(HubCli, DownloadPrintsTheSnapshotAndModelsListsIt) {
  hub.add_commit("org/tiny", tiny_model());
  hub.set_branch("org/tiny", "main", kCommit);
  const auto r = binscan({"download", "org/tiny"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, snapshot().string() + "\n");
  // Progress goes to stderr as plain lines when stderr is not a terminal.
  EXPECT_THAT(r.err, HasSubstr("Downloading model.safetensors"));

  const auto list = binscan({"models"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("org/tiny"));
  EXPECT_THAT(list.out, HasSubstr(std::string(kCommit).substr(0, 12)));
  EXPECT_THAT(list.out, HasSubstr("main"));
  EXPECT_THAT(list.out, HasSubstr("ready"));

  const auto json_run = binscan({"models", "--format", "json"});
  ASSERT_EQ(json_run.exit_code, 0) << json_run.err;
  const auto json = nlohmann::json::parse(json_run.out);
  ASSERT_EQ(json["models"].size(), 1u);
  EXPECT_EQ(json["models"][0]["model"], "org/tiny");
  const std::int64_t expected =
      300000 + static_cast<std::int64_t>(tiny_model().files["config.json"].size() +
                                         tiny_model().files["preprocessor_config.json"].size());
  EXPECT_EQ(json["models"][0]["size_on_disk"], expected);
  EXPECT_EQ(json["models"][0]["revisions"][0]["commit"], kCommit);
  EXPECT_EQ(json["models"][0]["revisions"][0]["complete"], true);

  // --quiet: nothing on stderr.
  const auto again = binscan({"download", "--quiet", "org/tiny"});
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(again.err, "");
}

TEST_F(HubCli, TwoProcessesDownloadingTheSameModelAtOnce) {
  hub.add_commit("org/tiny", tiny_model(2'000'000));
  hub.set_branch("org/tiny", "main", kCommit);
  hub.piece_delay_ms = 20;  // ~0.6 s per download, so the two overlap
  auto first = std::async(std::launch::async, [&] {
    return binscan({"download", "-q", "org/tiny"});
  });
  auto second = std::async(std::launch::async, [&] {
    return binscan({"download", "-q", "org/tiny"});
  });
  const auto a = first.get();
  const auto b = second.get();
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(hub.lfs_gets(), 1);  // the lock made the second wait and reuse the first's blob
  int blobs = 0;
  for (const auto& e : fs::directory_iterator(tmp / "hf" / "hub" / "models--org--tiny" / "blobs")) {
    EXPECT_NE(e.path().extension(), ".incomplete");
    ++blobs;
  }
  EXPECT_EQ(blobs, 3);
  std::ifstream in(snapshot() / "model.safetensors", std::ios::binary);
  EXPECT_EQ(test::sha256_hex_of(std::string(std::istreambuf_iterator<char>(in), {})),
            test::sha256_hex_of(tiny_model(2'000'000).files["model.safetensors"]));
}

// huggingface_hub locks .locks/models--org--name/<etag>.lock with the filelock package, i.e.
// fcntl.flock: while a Python process holds that lock, binscan waits instead of downloading.
TEST_F(HubCli, WaitsForTheLockHuggingfaceHubTakes) {
  const auto model = tiny_model();
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommit);
  const std::string sha = test::sha256_hex_of(model.files.at("model.safetensors"));
  const fs::path lock = tmp / "hf" / "hub" / ".locks" / "models--org--tiny" / (sha + ".lock");
  fs::create_directories(lock.parent_path());
  const fs::path held = tmp / "held";
  const fs::path release = tmp / "release";
  const std::string script =
      "import fcntl, os, sys, time\n"
      "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)\n"
      "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
      "open(sys.argv[2], 'w').close()\n"
      "deadline = time.time() + 30\n"
      "while not os.path.exists(sys.argv[3]) and time.time() < deadline: time.sleep(0.01)\n"
      "fcntl.flock(fd, fcntl.LOCK_UN)\n";
  auto python = std::async(std::launch::async, [&] {
    return test::run_command(
        {test::kPython, "-c", script, lock.string(), held.string(), release.string()});
  });
  for (int i = 0; i < 3000 && !fs::exists(held); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(held));
  auto download = std::async(std::launch::async, [&] {
    return binscan({"download", "-q", "org/tiny"});
  });
  // Once binscan has asked for the weights' metadata it goes for the lock, and must wait there.
  auto asked = [&] {
    for (const auto& r : hub.hub_requests()) {
      if (r.method == "HEAD" && r.path.ends_with("model.safetensors")) return true;
    }
    return false;
  };
  for (int i = 0; i < 3000 && !asked(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(asked());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const fs::path blobs = tmp / "hf" / "hub" / "models--org--tiny" / "blobs";
  EXPECT_FALSE(fs::exists(blobs / sha));
  EXPECT_FALSE(fs::exists(blobs / (sha + ".incomplete")));
  EXPECT_EQ(hub.lfs_gets(), 0);
  std::ofstream(release).close();
  EXPECT_EQ(python.get().exit_code, 0);
  const auto r = download.get();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(blobs / sha));
}

TEST_F(HubCli, TokenNeverReachesOutputOrFiles) {
  const std::string token = "hf_TopSecretValue_4242424242";
  hub.required_token = token;
  hub.enable_cdn();
  hub.add_commit("org/tiny", tiny_model());
  hub.set_branch("org/tiny", "main", kCommit);
  std::ofstream(tmp / "token.txt") << token << "\n";

  // Through --token-file, then through the environment.
  const auto ok = binscan({"download", "org/tiny", "--token-file", (tmp / "token.txt").string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const auto ok2 = binscan({"download", "org/tiny"}, {"HF_TOKEN=" + token});
  ASSERT_EQ(ok2.exit_code, 0) << ok2.err;
  // A rejected token, a gated model: the messages talk about the token, never show it.
  hub.required_token = "hf_other";
  const auto bad = binscan({"download", "org/uncached"}, {"HF_TOKEN=" + token});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("token was rejected"));
  EXPECT_THAT(bad.err, HasSubstr("https://huggingface.co/settings/tokens"));
  // Like huggingface_hub, a cached model is still usable; the user is told why it was not checked.
  const auto cached = binscan({"download", "org/tiny"}, {"HF_TOKEN=" + token});
  EXPECT_EQ(cached.exit_code, 0);
  EXPECT_THAT(cached.err, HasSubstr("token was rejected"));
  EXPECT_THAT(cached.err, HasSubstr("using the cached snapshot"));
  hub.required_token.reset();
  hub.gated = true;
  const auto gated = binscan({"download", "org/other"}, {"HF_TOKEN=" + token});
  EXPECT_EQ(gated.exit_code, 1);
  EXPECT_THAT(gated.err, HasSubstr("gated"));

  for (const auto& r : {ok, ok2, bad, cached, gated}) {
    EXPECT_THAT(r.out, Not(HasSubstr(token)));
    EXPECT_THAT(r.err, Not(HasSubstr(token)));
    EXPECT_THAT(r.err, Not(HasSubstr("X-Amz-Signature")));
  }
  for (const auto& [path, content] : all_files(tmp / "hf")) {
    EXPECT_EQ(content.find(token), std::string::npos) << path;
  }
  // The CDN never saw it either.
  for (const auto& req : hub.cdn_requests()) EXPECT_EQ(req.header("authorization"), "");
}

TEST_F(HubCli, MissingTokenAndOfflineAreExplained) {
  hub.required_token = "hf_needed";
  hub.add_commit("org/tiny", tiny_model());
  hub.set_branch("org/tiny", "main", kCommit);
  const auto r = binscan({"download", "org/tiny"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("binscan: error: "));
  EXPECT_THAT(r.err, HasSubstr("no token was found"));
  EXPECT_THAT(r.err, HasSubstr("https://huggingface.co/settings/tokens"));

  const auto off = binscan({"download", "org/tiny"}, {"HF_HUB_OFFLINE=1"});
  EXPECT_EQ(off.exit_code, 1);
  EXPECT_THAT(off.err, HasSubstr("HF_HUB_OFFLINE"));
  EXPECT_EQ(hub.hub_requests().size(), 1u);  // only the first, online attempt

  const auto none = binscan({"models"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_THAT(none.out, HasSubstr("No models in the cache"));
}

}  // namespace
}  // namespace binscan

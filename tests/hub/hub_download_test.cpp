// resolve_model against a fake Hub on 127.0.0.1: the cache layout huggingface_hub expects,
// redirects, resume, verification, authentication, offline mode and revisions.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "hub/hub.h"
#include "hub/hub_test_util.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using test::kCommitA;
using test::kCommitB;
using ::testing::HasSubstr;
using ::testing::Not;

HubOptions quiet(const std::string& revision = "main") {
  HubOptions o;
  o.revision = revision;
  o.show_progress = false;
  return o;
}

std::string file_text(const fs::path& p) { return read_text_file(p); }

int count_method(const std::vector<test::RecordedRequest>& reqs, const std::string& method) {
  return static_cast<int>(
      std::count_if(reqs.begin(), reqs.end(), [&](const auto& r) { return r.method == method; }));
}

using test::error_of;

using HubDownload = test::HubTest;

TEST_F(HubDownload, FirstDownloadLaysOutTheCacheLikeHuggingfaceHub) {
  const auto model = test::tiny_model(kCommitA);
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);

  const ResolvedModel r = resolve_model("org/tiny", quiet());
  const fs::path repo = repo_dir();
  EXPECT_EQ(r.dir, repo / "snapshots" / kCommitA);
  EXPECT_EQ(r.revision, kCommitA);
  EXPECT_EQ(r.model_id, "org/tiny");
  EXPECT_TRUE(r.warnings.empty());
  // refs/main holds exactly the commit hash, without a newline.
  EXPECT_EQ(file_text(repo / "refs" / "main"), kCommitA);
  for (const auto& [name, content] : model.files) {
    const fs::path pointer = r.dir / name;
    ASSERT_TRUE(fs::is_symlink(pointer)) << name;
    // LFS files are named by their sha256, git files by their git blob id.
    const std::string etag =
        name == "model.safetensors" ? test::sha256_hex_of(content) : test::git_sha1_of(content);
    EXPECT_EQ(fs::read_symlink(pointer), fs::path("../../blobs") / etag) << name;
    EXPECT_EQ(file_text(repo / "blobs" / etag), content) << name;
  }
  EXPECT_TRUE(fs::exists(cache() / ".locks" / "models--org--tiny" /
                         (test::sha256_hex_of(model.files.at("model.safetensors")) + ".lock")));
  for (const auto& e : fs::directory_iterator(repo / "blobs")) {
    EXPECT_NE(e.path().extension(), ".incomplete");
  }
  // HEAD first for metadata (without following redirects), then one GET per file.
  const auto reqs = hub.hub_requests();
  EXPECT_EQ(count_method(reqs, "HEAD"), 3);
  EXPECT_EQ(count_method(reqs, "GET"), 3);
  EXPECT_EQ(reqs.front().path, "/org/tiny/resolve/main/config.json");
  EXPECT_EQ(reqs.front().header("accept-encoding"), "identity");
  // Once the commit is known, every other file is fetched at that commit.
  EXPECT_EQ(reqs.back().path, std::string("/org/tiny/resolve/") + kCommitA + "/model.safetensors");
}

TEST_F(HubDownload, SecondResolutionOnlyAsksForTheCommit) {
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  resolve_model("org/tiny", quiet());
  const auto before = hub.hub_requests().size();
  const ResolvedModel r = resolve_model("org/tiny", quiet());
  const auto reqs = hub.hub_requests();
  ASSERT_EQ(reqs.size(), before + 1);
  EXPECT_EQ(reqs.back().method, "HEAD");
  EXPECT_EQ(r.dir, repo_dir() / "snapshots" / kCommitA);
}

TEST_F(HubDownload, BranchMovedDownloadsOnlyChangedFiles) {
  auto a = test::tiny_model(kCommitA, 1);
  auto b = a;
  b.hash = kCommitB;
  b.files["config.json"] = R"({"architectures": ["ViTForImageClassification"], "changed": true})";
  hub.add_commit("org/tiny", a);
  hub.add_commit("org/tiny", b);
  hub.set_branch("org/tiny", "main", kCommitA);
  resolve_model("org/tiny", quiet());
  hub.set_branch("org/tiny", "main", kCommitB);
  const int lfs_before = hub.lfs_gets();
  const ResolvedModel r = resolve_model("org/tiny", quiet());
  EXPECT_EQ(r.dir, repo_dir() / "snapshots" / kCommitB);
  EXPECT_EQ(file_text(repo_dir() / "refs" / "main"), kCommitB);
  EXPECT_EQ(file_text(r.dir / "config.json"), b.files["config.json"]);
  EXPECT_EQ(hub.lfs_gets(), lfs_before);  // same weights blob: linked, not downloaded again
  EXPECT_TRUE(fs::exists(repo_dir() / "snapshots" / kCommitA / "config.json"));
}

TEST_F(HubDownload, RedirectToAnotherHostDoesNotCarryTheToken) {
  const std::string token = "hf_SECRETtoken1234567890";
  env.set("HF_TOKEN", token);
  hub.required_token = token;
  hub.enable_cdn();
  const auto model = test::tiny_model(kCommitA);
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);

  const ResolvedModel r = resolve_model("org/tiny", quiet());
  EXPECT_EQ(file_text(r.dir / "model.safetensors"), model.files.at("model.safetensors"));
  for (const auto& req : hub.hub_requests()) {
    EXPECT_EQ(req.header("authorization"), "Bearer " + token) << req.method << " " << req.path;
  }
  const auto cdn = hub.cdn_requests();
  ASSERT_EQ(cdn.size(), 1u);
  EXPECT_EQ(cdn[0].method, "GET");
  EXPECT_EQ(cdn[0].header("host").rfind("localhost:", 0), 0u);
  EXPECT_EQ(cdn[0].header("authorization"), "");
}

TEST_F(HubDownload, DroppedConnectionIsResumedWithRange) {
  const auto model = test::tiny_model(kCommitA);
  const std::string& weights = model.files.at("model.safetensors");
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);
  hub.drop_after_bytes = 100000;

  const ResolvedModel r = resolve_model("org/tiny", quiet());
  EXPECT_EQ(test::sha256_hex_of(file_text(r.dir / "model.safetensors")),
            test::sha256_hex_of(weights));
  std::vector<test::RecordedRequest> gets;
  for (const auto& req : hub.hub_requests()) {
    if (req.method == "GET" && req.path.ends_with("model.safetensors")) gets.push_back(req);
  }
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[0].header("range"), "");
  EXPECT_EQ(gets[1].header("range"), "bytes=100000-");  // resumed, not restarted
}

TEST_F(HubDownload, IncompleteFileOfAnEarlierRunIsResumed) {
  const auto model = test::tiny_model(kCommitA);
  const std::string& weights = model.files.at("model.safetensors");
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);
  const std::string sha = test::sha256_hex_of(weights);
  fs::create_directories(repo_dir() / "blobs");
  {
    std::ofstream out(repo_dir() / "blobs" / (sha + ".incomplete"), std::ios::binary);
    out << weights.substr(0, 123456);
  }
  const ResolvedModel r = resolve_model("org/tiny", quiet());
  EXPECT_EQ(file_text(r.dir / "model.safetensors"), weights);
  bool saw_range = false;
  for (const auto& req : hub.hub_requests()) {
    if (req.method == "GET" && req.path.ends_with("model.safetensors")) {
      EXPECT_EQ(req.header("range"), "bytes=123456-");
      saw_range = true;
    }
  }
  EXPECT_TRUE(saw_range);
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / (sha + ".incomplete")));
}

TEST_F(HubDownload, Sha256MismatchDeletesTheDownload) {
  const auto model = test::tiny_model(kCommitA);
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);
  hub.corrupt_lfs = true;
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("sha256"));
  EXPECT_THAT(e.what(), HasSubstr("corrupt"));
  EXPECT_THAT(e.what(), HasSubstr(test::sha256_hex_of(model.files.at("model.safetensors"))));
  const std::string sha = test::sha256_hex_of(model.files.at("model.safetensors"));
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / sha));
  EXPECT_FALSE(fs::exists(repo_dir() / "blobs" / (sha + ".incomplete")));
  EXPECT_FALSE(fs::exists(repo_dir() / "snapshots" / kCommitA / "model.safetensors"));
}

TEST_F(HubDownload, MissingTokenExplainsWhereToGetOne) {
  hub.required_token = "hf_needed";
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kAuth);
  EXPECT_THAT(e.what(), HasSubstr("401"));
  EXPECT_THAT(e.what(), HasSubstr("no token"));
  EXPECT_THAT(e.what(), HasSubstr("https://huggingface.co/settings/tokens"));
  EXPECT_EQ(hub.hub_requests().front().header("authorization"), "");
}

TEST_F(HubDownload, RejectedTokenIsSaidSoWithoutShowingIt) {
  const std::string token = "hf_wrongTOKENvalue987";
  env.set("HF_TOKEN", token);
  hub.required_token = "hf_right";
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kAuth);
  EXPECT_THAT(e.what(), HasSubstr("rejected"));
  EXPECT_THAT(e.what(), Not(HasSubstr(token)));
}

TEST_F(HubDownload, GatedModelSaysToAcceptTheConditions) {
  env.set("HF_TOKEN", "hf_some_token");
  hub.gated = true;
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kAuth);
  EXPECT_THAT(e.what(), HasSubstr("403"));
  EXPECT_THAT(e.what(), HasSubstr("gated"));
  EXPECT_THAT(e.what(), HasSubstr("accept its conditions at " + hub.endpoint() + "/org/tiny"));
}

TEST_F(HubDownload, UnknownModelRevisionAndFileAreNotFound) {
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  Error e = error_of([&] { resolve_model("org/nope", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("no model org/nope"));
  e = error_of([&] { resolve_model("org/tiny", quiet("v9")); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("no revision 'v9'"));

  auto no_weights = test::tiny_model(kCommitB);
  no_weights.files.erase("model.safetensors");
  hub.add_commit("org/noweights", no_weights);
  hub.set_branch("org/noweights", "main", kCommitB);
  e = error_of([&] { resolve_model("org/noweights", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("neither model.safetensors nor model.safetensors.index.json"));
}

TEST_F(HubDownload, ANonexistentPathIsNotMistakenForAModelId) {
  const Error e = error_of([&] { resolve_model("./models/vit", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_TRUE(hub.hub_requests().empty());
  // An existing directory is used as is, even when it looks like a model id.
  fs::create_directories(tmp / "org" / "tiny");
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path());
  const ResolvedModel r = resolve_model("org/tiny", quiet());
  fs::current_path(cwd);
  EXPECT_EQ(r.dir, fs::path("org/tiny"));
  EXPECT_EQ(r.revision, "");
  EXPECT_TRUE(hub.hub_requests().empty());
}

TEST_F(HubDownload, OfflineWithoutCacheFailsWithoutTouchingTheNetwork) {
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  env.set("HF_HUB_OFFLINE", "1");
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kOffline);
  EXPECT_THAT(e.what(), HasSubstr("HF_HUB_OFFLINE"));
  EXPECT_TRUE(hub.hub_requests().empty());
}

TEST_F(HubDownload, OfflineWithCacheUsesTheSnapshot) {
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  const ResolvedModel online = resolve_model("org/tiny", quiet());
  const auto before = hub.hub_requests().size();
  env.set("HF_HUB_OFFLINE", "true");
  const ResolvedModel offline = resolve_model("org/tiny", quiet());
  EXPECT_EQ(offline.dir, online.dir);
  EXPECT_EQ(offline.revision, kCommitA);
  EXPECT_EQ(hub.hub_requests().size(), before);
}

TEST_F(HubDownload, UnreachableHubFallsBackToTheCacheWithAWarning) {
  hub.add_commit("org/tiny", test::tiny_model(kCommitA));
  hub.set_branch("org/tiny", "main", kCommitA);
  const ResolvedModel online = resolve_model("org/tiny", quiet());
  env.set("HF_ENDPOINT", "http://127.0.0.1:1");  // nothing listens on port 1
  const ResolvedModel r = resolve_model("org/tiny", quiet());
  EXPECT_EQ(r.dir, online.dir);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("cannot reach"));
  // Without a cache, the connection error is reported.
  env.set("HF_HOME", (tmp / "empty").string());
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("cannot connect"));
}

TEST_F(HubDownload, RevisionPinnedByCommitHash) {
  auto a = test::tiny_model(kCommitA, 1);
  auto b = test::tiny_model(kCommitB, 2);
  hub.add_commit("org/tiny", a);
  hub.add_commit("org/tiny", b);
  hub.set_branch("org/tiny", "main", kCommitB);
  const ResolvedModel r = resolve_model("org/tiny", quiet(kCommitA));
  EXPECT_EQ(r.dir, repo_dir() / "snapshots" / kCommitA);
  EXPECT_EQ(file_text(r.dir / "config.json"), a.files["config.json"]);
  EXPECT_EQ(file_text(r.dir / "model.safetensors"), a.files["model.safetensors"]);
  EXPECT_FALSE(fs::exists(repo_dir() / "refs"));  // a commit is not a ref
  for (const auto& req : hub.hub_requests()) {
    EXPECT_THAT(req.path, HasSubstr(std::string("/resolve/") + kCommitA + "/"));
  }
  // A pinned commit that is cached needs no network at all.
  const auto before = hub.hub_requests().size();
  const ResolvedModel again = resolve_model("org/tiny", quiet(kCommitA));
  EXPECT_EQ(again.dir, r.dir);
  EXPECT_EQ(hub.hub_requests().size(), before);
  // A tag is recorded in refs/ like a branch.
  hub.set_branch("org/tiny", "v1.0", kCommitB);
  const ResolvedModel tagged = resolve_model("org/tiny", quiet("v1.0"));
  EXPECT_EQ(tagged.revision, kCommitB);
  EXPECT_EQ(file_text(repo_dir() / "refs" / "v1.0"), kCommitB);
}

TEST_F(HubDownload, ShardedCheckpointDownloadsIndexAndShards) {
  test::FakeHub::Commit c = test::tiny_model(kCommitA);
  c.files.erase("model.safetensors");
  c.files["model-00001-of-00002.safetensors"] = test::random_bytes(5000, 7);
  c.files["model-00002-of-00002.safetensors"] = test::random_bytes(7000, 8);
  c.files["model.safetensors.index.json"] =
      R"({"metadata": {"total_size": 12000}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",)"
      R"( "b.weight": "model-00002-of-00002.safetensors", "c.bias": "model-00001-of-00002.safetensors"}})";
  hub.add_commit("org/sharded", c);
  hub.set_branch("org/sharded", "main", kCommitA);
  const ResolvedModel r = resolve_model("org/sharded", quiet());
  for (const auto& [name, content] : c.files) {
    EXPECT_EQ(file_text(r.dir / name), content) << name;
  }
  // The absence of model.safetensors is remembered as huggingface_hub does.
  EXPECT_TRUE(
      fs::exists(repo_dir("models--org--sharded") / ".no_exist" / kCommitA / "model.safetensors"));
  // ... so that offline resolution goes straight to the index.
  env.set("HF_HUB_OFFLINE", "1");
  EXPECT_EQ(resolve_model("org/sharded", quiet()).dir, r.dir);
}

// A CLIP model brings the tokenizer files its labels need; the fast tokenizer's tokenizer.json
// only where vocab.json + merges.txt are missing. Other models ask for none of them.
TEST_F(HubDownload, ClipModelDownloadsItsTokenizer) {
  test::FakeHub::Commit c = test::tiny_model(kCommitA);
  c.files["config.json"] = R"({"architectures": ["CLIPModel"], "model_type": "clip"})";
  c.files["vocab.json"] = R"({"a</w>": 0})";
  c.files["merges.txt"] = "#version: 0.2\n";
  c.files["tokenizer_config.json"] = R"({"model_max_length": 77})";
  c.files["special_tokens_map.json"] = R"({"pad_token": "<|endoftext|>"})";
  c.files["tokenizer.json"] = R"({"model": {"type": "BPE"}})";
  hub.add_commit("org/clip", c);
  hub.set_branch("org/clip", "main", kCommitA);
  const ResolvedModel r = resolve_model("org/clip", quiet());
  for (const char* name : {"vocab.json", "merges.txt", "tokenizer_config.json",
                           "special_tokens_map.json", "model.safetensors"})
    EXPECT_EQ(file_text(r.dir / name), c.files.at(name)) << name;
  EXPECT_FALSE(fs::exists(r.dir / "tokenizer.json"));

  c.hash = kCommitB;
  c.files.erase("vocab.json");
  c.files.erase("merges.txt");
  hub.add_commit("org/clip-fast", c);
  hub.set_branch("org/clip-fast", "main", kCommitB);
  const ResolvedModel fast = resolve_model("org/clip-fast", quiet());
  EXPECT_EQ(file_text(fast.dir / "tokenizer.json"), c.files.at("tokenizer.json"));

  const auto vit = test::tiny_model(kCommitA);
  hub.add_commit("org/tiny", vit);
  hub.set_branch("org/tiny", "main", kCommitA);
  const std::size_t before = hub.hub_requests().size();
  resolve_model("org/tiny", quiet());
  const auto reqs = hub.hub_requests();
  for (std::size_t i = before; i < reqs.size(); ++i)
    EXPECT_THAT(reqs[i].path, Not(HasSubstr("token"))) << reqs[i].path;
}

// A cache as huggingface_hub writes it, built by hand: resolution uses it without downloading.
TEST_F(HubDownload, ReusesACacheLaidOutByHuggingfaceHub) {
  const auto model = test::tiny_model(kCommitA);
  const fs::path repo = repo_dir();
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "refs");
  fs::create_directories(repo / "snapshots" / kCommitA);
  { std::ofstream(repo / "refs" / "main") << kCommitA; }
  for (const auto& [name, content] : model.files) {
    const std::string etag =
        name.ends_with(".safetensors") ? test::sha256_hex_of(content) : test::git_sha1_of(content);
    std::ofstream(repo / "blobs" / etag, std::ios::binary) << content;
    fs::create_symlink(fs::path("../../blobs") / etag, repo / "snapshots" / kCommitA / name);
  }
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);
  const ResolvedModel r = resolve_model("org/tiny", quiet());
  EXPECT_EQ(r.dir, repo / "snapshots" / kCommitA);
  EXPECT_EQ(count_method(hub.hub_requests(), "GET"), 0);
  EXPECT_EQ(count_method(hub.hub_requests(), "HEAD"), 1);
  env.set("HF_HUB_OFFLINE", "1");
  EXPECT_EQ(resolve_model("org/tiny", quiet()).dir, r.dir);
  // HF_HUB_CACHE takes precedence over HF_HOME.
  fs::rename(cache(), tmp / "elsewhere");
  env.set("HF_HUB_CACHE", (tmp / "elsewhere").string());
  EXPECT_EQ(resolve_model("org/tiny", quiet()).dir,
            tmp / "elsewhere" / "models--org--tiny" / "snapshots" / kCommitA);
}

// The cache binscan writes, read by a port of huggingface_hub's own reader (scan_cache_dir and
// try_to_load_from_cache): no corruption reported, every file found with the right content.
TEST_F(HubDownload, CacheWrittenByBinscanIsReadableByHuggingfaceHubsReader) {
  const auto model = test::tiny_model(kCommitA);
  hub.add_commit("org/tiny", model);
  hub.set_branch("org/tiny", "main", kCommitA);
  hub.enable_cdn();
  resolve_model("org/tiny", quiet());
  std::vector<std::string> args{cache().string()};
  for (const auto& [name, content] : model.files) {
    args.insert(args.end(), {"org/tiny", name, "main"});
  }
  const auto result = test::run_python("hf_cache_scan.py", args);
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_TRUE(json["warnings"].empty()) << json["warnings"].dump();
  ASSERT_EQ(json["repos"].size(), 1u);
  const auto& repo = json["repos"][0];
  EXPECT_EQ(repo["repo_id"], "org/tiny");
  EXPECT_EQ(repo["repo_type"], "model");
  ASSERT_EQ(repo["revisions"].size(), 1u);
  EXPECT_EQ(repo["revisions"][0]["commit_hash"], kCommitA);
  EXPECT_EQ(repo["revisions"][0]["refs"], nlohmann::json::array({"main"}));
  std::int64_t total = 0;
  for (const auto& [name, content] : model.files)
    total += static_cast<std::int64_t>(content.size());
  EXPECT_EQ(repo["size_on_disk"], total);
  for (const auto& lookup : json["lookups"]) {
    const std::string name = lookup["filename"];
    EXPECT_EQ(lookup["sha256"], test::sha256_hex_of(model.files.at(name))) << name;
  }
  // binscan's own listing agrees with it.
  const auto models = scan_cache();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].model_id, "org/tiny");
  EXPECT_EQ(models[0].size_on_disk, total);
  ASSERT_EQ(models[0].revisions.size(), 1u);
  EXPECT_EQ(models[0].revisions[0].commit, kCommitA);
  EXPECT_EQ(models[0].revisions[0].refs, std::vector<std::string>{"main"});
  EXPECT_EQ(models[0].revisions[0].files, 3);
  EXPECT_TRUE(models[0].revisions[0].complete);
}

TEST_F(HubDownload, ServerErrorWithoutCacheIsReportedAsSuch) {
  hub.broken = true;
  const Error e = error_of([&] { resolve_model("org/tiny", quiet()); });
  EXPECT_EQ(e.kind(), ErrorKind::kNetwork);
  EXPECT_THAT(e.what(), HasSubstr("HTTP 500"));
}

}  // namespace
}  // namespace binscan

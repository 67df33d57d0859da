// Environment handling as huggingface_hub does it (cache directory, token, offline flag), model
// id recognition, URL helpers and the digests used to check downloads.
#include <gtest/gtest.h>

#include <fstream>

#include "hub/http.h"
#include "hub/hub.h"
#include "hub/hub_test_util.h"
#include "util/digest.h"
#include "util/error.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;

class HubEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name :
         {"HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
          "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME", "HF_ENDPOINT"}) {
      env.unset(name);
    }
    env.set("HOME", (tmp / "home").string());
  }
  test::TempDir tmp;
  test::ScopedEnv env;
};

TEST_F(HubEnv, CacheDirectoryPrecedence) {
  EXPECT_EQ(hub_cache_dir(), tmp / "home" / ".cache" / "huggingface" / "hub");
  env.set("XDG_CACHE_HOME", (tmp / "xdg").string());
  EXPECT_EQ(hub_cache_dir(), tmp / "xdg" / "huggingface" / "hub");
  env.set("HF_HOME", "~/hf");
  EXPECT_EQ(hub_cache_dir(), tmp / "home" / "hf" / "hub");
  env.set("HF_HUB_CACHE", (tmp / "c").string());
  EXPECT_EQ(hub_cache_dir(), tmp / "c");
}

TEST_F(HubEnv, TokenPrecedenceFlagThenEnvironmentThenFile) {
  HubOptions options;
  EXPECT_FALSE(find_token(options).has_value());
  fs::create_directories(tmp / "home" / ".cache" / "huggingface");
  std::ofstream(tmp / "home" / ".cache" / "huggingface" / "token") << "hf_from_login_file\n";
  EXPECT_EQ(find_token(options), "hf_from_login_file");
  env.set("HF_TOKEN", "  hf_from_env \n");
  EXPECT_EQ(find_token(options), "hf_from_env");
  std::ofstream(tmp / "mytoken") << "hf_from_flag\n";
  options.token_file = tmp / "mytoken";
  EXPECT_EQ(find_token(options), "hf_from_flag");
  std::ofstream(tmp / "empty") << "\n";
  options.token_file = tmp / "empty";
  EXPECT_THROW(find_token(options), Error);
  options.token_file = tmp / "missing";
  EXPECT_THROW(find_token(options), Error);
}

TEST_F(HubEnv, OfflineFlagValues) {
  EXPECT_FALSE(hub_offline());
  for (const char* yes : {"1", "ON", "yes", "True"}) {
    env.set("HF_HUB_OFFLINE", yes);
    EXPECT_TRUE(hub_offline()) << yes;
  }
  for (const char* no : {"0", "off", "false", ""}) {
    env.set("HF_HUB_OFFLINE", no);
    EXPECT_FALSE(hub_offline()) << no;
  }
}

TEST_F(HubEnv, EndpointDefaultAndOverride) {
  EXPECT_EQ(hub_endpoint(), "https://huggingface.co");
  env.set("HF_ENDPOINT", "https://hf-mirror.example/");
  EXPECT_EQ(hub_endpoint(), "https://hf-mirror.example");
}

TEST(HubIds, RepoIdsAndFolderNames) {
  EXPECT_TRUE(is_repo_id("google/vit-base-patch16-224"));
  EXPECT_TRUE(is_repo_id("microsoft/resnet-50"));
  EXPECT_TRUE(is_repo_id("gpt2"));
  EXPECT_FALSE(is_repo_id("./models/vit"));
  EXPECT_FALSE(is_repo_id("/abs/path"));
  EXPECT_FALSE(is_repo_id("a/b/c"));
  EXPECT_FALSE(is_repo_id("org--x/name"));
  EXPECT_FALSE(is_repo_id("org/../name"));
  EXPECT_FALSE(is_repo_id(""));
  EXPECT_EQ(repo_folder_name("google/vit-base-patch16-224"),
            "models--google--vit-base-patch16-224");
  EXPECT_EQ(repo_folder_name("gpt2"), "models--gpt2");
}

TEST(HubHttp, DisplayUrlHidesCredentialsAndQuery) {
  EXPECT_EQ(http::display_url("https://user:pass@cdn.example:8443/a/b?X-Amz-Signature=s#f"),
            "https://cdn.example:8443/a/b");
  EXPECT_EQ(http::origin_of("https://huggingface.co/x"), "https://huggingface.co:443");
  EXPECT_NE(http::origin_of("http://127.0.0.1:8000/x"), http::origin_of("http://localhost:8000/x"));
  EXPECT_EQ(http::url_quote("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(http::url_quote("sub dir/model.safetensors", true), "sub%20dir/model.safetensors");
  EXPECT_EQ(http::parse_retry_after("3"), 3.0);
  EXPECT_FALSE(http::parse_retry_after("soon").has_value());
  const auto date = http::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT");  // in the past
  ASSERT_TRUE(date.has_value());
  EXPECT_EQ(*date, 0.0);
}

// Independent references: coreutils' sha256sum and git's own object hashing.
TEST(HubDigest, MatchesSha256sumAndGitHashObject) {
  test::TempDir tmp;
  const fs::path file = tmp / "data.bin";
  std::ofstream(file, std::ios::binary) << test::random_bytes(100000, 3);
  const auto sum = test::run_command({"sha256sum", file.string()});
  ASSERT_EQ(sum.exit_code, 0) << sum.err;
  EXPECT_EQ(sha256_file(file), sum.out.substr(0, 64));
  const auto git = test::run_command({"git", "hash-object", file.string()});
  if (git.exit_code != 0) GTEST_SKIP() << "git not available";
  EXPECT_EQ(git_blob_sha1_file(file), git.out.substr(0, 40));
}

}  // namespace
}  // namespace binscan

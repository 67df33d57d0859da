// Shared fixture of the hub tests: a fake Hub on 127.0.0.1, HF_HOME in a temporary directory,
// and a small model whose weights are an LFS file.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "support/fake_hub.h"
#include "support/test_support.h"
#include "util/error.h"

namespace binscan::test {

// Sets environment variables for the lifetime of the object, restoring the previous values.
class ScopedEnv {
 public:
  ScopedEnv() = default;
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  void set(const std::string& name, const std::string& value) {
    remember(name);
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  void unset(const std::string& name) {
    remember(name);
    ::unsetenv(name.c_str());
  }

 private:
  void remember(const std::string& name) {
    if (saved_.count(name)) return;
    const char* v = std::getenv(name.c_str());
    saved_[name] = v ? std::optional<std::string>(v) : std::nullopt;
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

// Catches the binscan::Error of `f` so its kind and message can be checked.
template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no binscan::Error thrown";
  return Error(ErrorKind::kInternal, "", "none");
}

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

inline const char* kCommitA = "0123456789abcdef0123456789abcdef01234567";
inline const char* kCommitB = "89abcdef0123456789abcdef0123456789abcdef";

inline FakeHub::Commit tiny_model(const std::string& hash, unsigned seed = 1) {
  FakeHub::Commit c;
  c.hash = hash;
  c.files["config.json"] =
      R"({"architectures": ["ViTForImageClassification"], "seed": )" + std::to_string(seed) + "}\n";
  c.files["preprocessor_config.json"] =
      R"({"do_resize": true, "size": {"height": 224, "width": 224}})";
  c.files["model.safetensors"] = random_bytes(300000, seed);
  return c;
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name :
         {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
          "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME", "http_proxy", "https_proxy",
          "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"}) {
      env.unset(name);
    }
    env.set("HF_HOME", (tmp / "hf").string());
    env.set("HF_ENDPOINT", hub.endpoint());
  }

  std::filesystem::path cache() const { return tmp.path() / "hf" / "hub"; }
  std::filesystem::path repo_dir(const std::string& folder = "models--org--tiny") const {
    return cache() / folder;
  }

  TempDir tmp;
  ScopedEnv env;
  FakeHub hub;
};

}  // namespace binscan::test

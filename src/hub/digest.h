// Content digests used to check downloads: the Hub names an LFS file's blob by the sha256 of its
// content, and a small (git-stored) file's blob by its git object id.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace binscan {

// Lower-case hex sha256 of a file's content. Throws Error(kIo).
std::string sha256_file(const std::filesystem::path& path);

// Lower-case hex git blob id: sha1("blob <size>\0" + content). Throws Error(kIo).
std::string git_blob_sha1_file(const std::filesystem::path& path);

// Lower-case hex sha256 of a string (tests, small data).
std::string sha256_hex(std::string_view data);

}  // namespace binscan

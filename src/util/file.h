// Whole-file reading and crash-safe writing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace binscan {

// Reads a whole file. Throws Error(kIo) naming the path on failure.
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);
std::string read_text_file(const std::filesystem::path& path);

// Writes `path` atomically: the content goes to a temporary file in the same directory, is
// flushed, and is renamed over `path` only when `write` returned normally. On any error the
// temporary is removed, so a reader never sees a half-written file and no partial output is left.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::FILE*)>& write);
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace binscan

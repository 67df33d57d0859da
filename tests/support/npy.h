// Reading NumPy .npy files of float32 (what the Python references and `binscan preprocess` write)
// in tests. Header-only so every test suite can use it without touching the support library.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace binscan::test {

struct NpyF32 {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

// Throws std::runtime_error when the file is not a little-endian, C-order float32 .npy.
inline NpyF32 read_npy_f32(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) {
    throw std::runtime_error(path.string() + ": not a .npy file");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0;
  std::size_t header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    header_start = 10;
  } else {
    if (bytes.size() < 12) throw std::runtime_error(path.string() + ": truncated .npy");
    header_len = 0;
    for (int i = 0; i < 4; ++i) {
      header_len |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    }
    header_start = 12;
  }
  if (header_start + header_len > bytes.size())
    throw std::runtime_error(path.string() + ": truncated .npy");
  const std::string header = bytes.substr(header_start, header_len);
  if (header.find("'descr': '<f4'") == std::string::npos) {
    throw std::runtime_error(path.string() + ": not little-endian float32: " + header);
  }
  if (header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(path.string() + ": Fortran order");
  }
  NpyF32 out;
  const auto open = header.find("'shape': (");
  const auto close = header.find(')', open);
  if (open == std::string::npos || close == std::string::npos) {
    throw std::runtime_error(path.string() + ": no shape");
  }
  std::string dims = header.substr(open + 10, close - open - 10);
  std::int64_t count = 1;
  std::stringstream ds(dims);
  std::string item;
  while (std::getline(ds, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    out.shape.push_back(std::stoll(item));
    count *= out.shape.back();
  }
  const std::size_t data_start = header_start + header_len;
  if (bytes.size() - data_start != static_cast<std::size_t>(count) * 4) {
    throw std::runtime_error(path.string() + ": data size does not match the shape");
  }
  out.data.resize(static_cast<std::size_t>(count));
  std::memcpy(out.data.data(), bytes.data() + data_start, bytes.size() - data_start);
  return out;
}

}  // namespace binscan::test

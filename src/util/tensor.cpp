#include "util/tensor.h"

#include <cstdio>
#include <string>

#include "util/error.h"
#include "util/file.h"

namespace binscan {

void write_npy(const std::filesystem::path& path, const Tensor& tensor) {
  std::string shape;
  for (const auto d : tensor.shape) shape += std::to_string(d) + ", ";
  if (tensor.shape.size() == 1) {
    shape.pop_back();  // "(3,)"
  } else if (!shape.empty()) {
    shape.resize(shape.size() - 2);
  }
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size() * sizeof(float));
  write_file_atomically(path, out);
}

}  // namespace binscan

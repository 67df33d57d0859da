// model.safetensors.index.json on arbitrary bytes: must never crash or hang, and every shard
// name it accepts must be a plain file name (no directory, "..", NUL or control byte).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/error.h"
#include "util/shard_index.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    for (const auto& [shard, tensors] : binscan::parse_shard_index(text, "index.json")) {
      if (!binscan::valid_shard_name(shard) || tensors.empty()) __builtin_trap();
      for (const char c : shard)
        if (c == '/' || c == '\0') __builtin_trap();
    }
  } catch (const binscan::Error&) {
  }
  return 0;
}

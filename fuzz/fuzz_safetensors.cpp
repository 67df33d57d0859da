// The safetensors parser on arbitrary bytes: must never crash, hang, over-allocate or read outside
// the input; malformed input must end in binscan::Error.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> file(data, size);
  try {
    const auto records = binscan::parse_safetensors(file, "fuzz.safetensors");
    for (const auto& r : records) {
      // Every record must lie inside the input.
      if (!r.bytes.empty() &&
          (r.bytes.data() < data || r.bytes.data() + r.bytes.size() > data + size))
        __builtin_trap();
      if (binscan::dtype_size(r.dtype) == 0) continue;
      if (static_cast<std::uint64_t>(r.numel()) * binscan::dtype_size(r.dtype) != r.bytes.size())
        __builtin_trap();
      std::vector<float> out(static_cast<std::size_t>(r.numel()));
      try {
        binscan::convert_to_f32(r, out.data());
      } catch (const binscan::Error&) {
        // integer dtypes are refused
      }
    }
  } catch (const binscan::Error&) {
  }
  return 0;
}

// config.json on arbitrary bytes, through the JSON policy and ModelConfig::from_json, then the
// tensor list it implies: must never crash, hang or over-allocate; bad input ends in
// binscan::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "model/checkpoint.h"
#include "model/config.h"
#include "util/error.h"
#include "util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto json = binscan::parse_json(text, "config.json");
    if (json.is_discarded()) return 0;
    const auto config = binscan::ModelConfig::from_json(json, "config.json");
    const auto specs = binscan::expected_tensors(config);
    if (specs.empty()) __builtin_trap();
  } catch (const binscan::Error&) {
  }
  return 0;
}

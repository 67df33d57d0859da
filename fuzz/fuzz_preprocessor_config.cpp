// preprocessor_config.json on arbitrary bytes, through the JSON policy and
// ProcessorConfig::from_json: must never crash, hang or over-allocate; bad input ends in
// binscan::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "preprocess/processor.h"
#include "util/error.h"
#include "util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto json = binscan::parse_json(text, "preprocessor_config.json");
    if (json.is_discarded()) return 0;
    (void)binscan::ProcessorConfig::from_json(json, "preprocessor_config.json");
  } catch (const binscan::Error&) {
  }
  return 0;
}

// An Inference API reply body on arbitrary bytes: must never crash, hang or over-allocate; a
// malformed body ends in binscan::Error, an accepted one in finite scores sorted descending.
#include <cstddef>
#include <cstdint>
#include <string>

#include "classify/remote_classifier.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  try {
    const auto c = binscan::parse_inference_reply(body, "photo.jpg", "http://127.0.0.1/x", 5);
    if (c.top.size() > 5) __builtin_trap();
    for (std::size_t i = 1; i < c.top.size(); ++i)
      if (c.top[i - 1].score < c.top[i].score) __builtin_trap();
  } catch (const binscan::Error&) {
  }
  return 0;
}

// A `binscan serve` request body on arbitrary bytes, read as JSON (the Inference API's
// {"inputs": base64, "parameters": {...}}) and as raw image bytes: must never crash, hang or
// over-allocate; a refused body ends in ApiError with a 4xx status, an accepted one has a
// non-empty image and a top_k of at least 1. The token check runs on the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "serve/api.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const char* type : {"application/json", "image/jpeg"}) {
    try {
      const auto r = binscan::serve::parse_classification_request(body, type);
      if (r.image.empty() || r.top_k < 1) __builtin_trap();
    } catch (const binscan::serve::ApiError& e) {
      if (e.status() < 400 || e.status() > 499) __builtin_trap();
    } catch (const binscan::Error&) {
    }
  }
  if (binscan::serve::bearer_token_matches(body, "token") &&
      body.find("token") == std::string::npos)
    __builtin_trap();
  return 0;
}

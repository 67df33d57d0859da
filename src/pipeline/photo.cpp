#include "pipeline/photo.h"

#include <chrono>
#include <exception>

namespace binscan {

PreparedPhoto prepare_photo(std::span<const std::uint8_t> bytes, const std::string& name,
                            std::span<const Classifier* const> models, bool fast_decode) {
  using Clock = std::chrono::steady_clock;
  PreparedPhoto out;
  try {
    // As stored: the processors read through the orientation (no rotated copy of the photo).
    DecodeOptions options;
    options.apply_orientation = false;
    if (fast_decode && !models.empty()) {
      options.reduced_fits = [models](int width, int height) {
        for (const Classifier* model : models)
          if (!model->accepts_reduced(width, height)) return false;
        return true;
      };
    }
    out.decoded = decode_image(bytes, name, options);
  } catch (const Error& e) {
    out.error = e;
    return out;
  }
  const ClassifyInput input{name, bytes, &*out.decoded};
  for (const Classifier* model : models) {
    ModelInput m;
    const auto t0 = Clock::now();
    try {
      m.input = model->prepare(input);
    } catch (const Error& e) {
      m.error = e;
    } catch (const std::exception& e) {
      m.error = Error(ErrorKind::kInternal, "", e.what());
    }
    m.prepare_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    out.models.push_back(std::move(m));
  }
  out.decoded->image = Image{};  // the pixels are in the prepared inputs now
  return out;
}

}  // namespace binscan

// The layers of src/ and which others each may include: the arrows of the architecture
//   cli -> {render, store, serve} -> analysis -> pipeline -> classify -> {engine, model, preprocess,
//   hub, text}
//       -> image -> util
// as src/CMakeLists.txt links them. The linker catches a call into a higher layer, but not a
// header-only use (an inline function, a struct, a constant); check_layering catches those.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace binscan::test {

// Each layer with the layers below it that it may include (transitively closed).
const std::map<std::string, std::set<std::string>>& layer_dependencies();

struct LayerViolation {
  std::string file;      // relative to the source root, e.g. "image/decode.cpp"
  int line = 0;          // 1-based
  std::string included;  // e.g. "store/store.h"
};

// Every `#include "layer/..."` in the .h/.cpp files under `src_root` that names a layer its file's
// layer may not use. Files outside the known layers, and includes of non-layer headers
// (<...> or "support/..."), are ignored; a folder that is not a known layer is reported as a
// violation with line 0 so a new layer must be placed in the order.
std::vector<LayerViolation> check_layering(const std::filesystem::path& src_root);

}  // namespace binscan::test

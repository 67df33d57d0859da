#include "engine/engine.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#include "engine/engines.h"
#include "util/error.h"
#include "util/threads.h"

namespace binscan {
namespace {

// Drops a tensor's pages of the checkpoint's read-only file mapping from this process's resident
// set once the engine holds its own (reordered) copy, so the weights are resident once, not twice
// (for ViT-B/16 that is 330 MB of peak memory). The pages stay in the page cache and are faulted
// back in, unchanged, if the tensor is read again: safe for a read-only mapping.
void release_pages(std::span<const std::uint8_t> bytes) {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  if (bytes.empty() || page == 0) return;
  const auto first = reinterpret_cast<std::uintptr_t>(bytes.data());
  const std::uintptr_t begin = (first + page - 1) / page * page;
  const std::uintptr_t end = (first + bytes.size()) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

std::unique_ptr<Engine> create_engine(const Checkpoint& checkpoint, const EngineOptions& options) {
  const int threads = resolve_thread_count(options.threads);
  const Weights& weights = checkpoint.weights;
  const engine_internal::WeightLoader load = [&weights](const std::string& name,
                                                        const std::vector<std::int64_t>& shape) {
    std::vector<float> values = weights.load_f32(name, shape);
    release_pages(weights.record(name).bytes);
    return values;
  };
  const ModelConfig& config = checkpoint.config;
  if (const auto* vit = std::get_if<VitConfig>(&config.arch))
    return engine_internal::make_vit_engine(*vit, config.num_labels(), load, threads);
  if (const auto* resnet = std::get_if<ResNetConfig>(&config.arch)) {
    // Weight layouts are chosen for the size the image processor produces.
    const ProcessorConfig& proc = checkpoint.processor;
    const bool square = proc.kind == ProcessorKind::kConvNext;
    const int height = square ? proc.shortest_edge : proc.height;
    const int width = square ? proc.shortest_edge : proc.width;
    return engine_internal::make_resnet_engine(*resnet, config.num_labels(), load, threads,
                                               height > 0 ? height : 224, width > 0 ? width : 224);
  }
  throw Error(ErrorKind::kUnsupported, (checkpoint.dir / "config.json").string(),
              "unsupported architecture " + config.architecture);
}

}  // namespace binscan

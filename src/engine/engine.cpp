#include "engine/engine.h"

#include "engine/engines.h"
#include "util/error.h"
#include "util/threads.h"

namespace binscan {

std::unique_ptr<Engine> create_engine(const Checkpoint& checkpoint, const EngineOptions& options) {
  const int threads = resolve_thread_count(options.threads);
  const Weights& weights = checkpoint.weights;
  const engine_internal::WeightLoader load = [&weights](const std::string& name,
                                                        const std::vector<std::int64_t>& shape) {
    return weights.load_f32(name, shape);
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

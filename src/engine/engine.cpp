#include "engine/engine.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>

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

// Whether /proc/cpuinfo lists `flag` (to tell a CPU without bf16 from a limit set on oneDNN).
bool cpu_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string w;
    while (words >> w)
      if (w == flag) return true;
    return false;
  }
  return false;
}

}  // namespace

std::string_view precision_name(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return "bf16";
    case Precision::kInt8:
      return "int8";
    case Precision::kFp32:
      break;
  }
  return "fp32";
}

void Engine::observe_ranges(ActivationRanges* /*ranges*/) {
  throw Error(ErrorKind::kUnsupported, "calibration",
              "int8 (and so calibration) is not implemented for this model");
}

void ClipEngine::observe_ranges(ActivationRanges* /*ranges*/) {
  throw Error(ErrorKind::kUnsupported, "calibration",
              "int8 (and so calibration) is not implemented for this model");
}

std::string int8_unsupported_reason() {
  // oneDNN 2.6 has int8 convolution kernels from AVX2 up (with VNNI from AVX-512 VNNI).
  if ((static_cast<unsigned>(dnnl::get_effective_cpu_isa()) &
       static_cast<unsigned>(dnnl::cpu_isa::avx2)) == static_cast<unsigned>(dnnl::cpu_isa::avx2))
    return "";
  if (cpu_flag("avx2"))
    return "this CPU has AVX2, but oneDNN is limited to an ISA without it (ONEDNN_MAX_CPU_ISA)";
  return "this CPU lacks AVX2, which int8 needs";
}

std::string bf16_unsupported_reason() {
  // What oneDNN will use, which honours ONEDNN_MAX_CPU_ISA (CI emulates AVX2-only machines so).
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto has = [isa](dnnl::cpu_isa want) {
    const auto w = static_cast<unsigned>(want);
    return (isa & w) == w;
  };
  if (has(dnnl::cpu_isa::avx512_core_bf16) || has(dnnl::cpu_isa::avx512_core_amx)) return "";
  if (cpu_flag("avx512_bf16") || cpu_flag("amx_bf16"))
    return "this CPU has AVX-512 BF16, but oneDNN is limited to an ISA without it "
           "(ONEDNN_MAX_CPU_ISA)";
  return "this CPU lacks AVX-512 BF16 (avx512_bf16) and AMX (amx_bf16), one of which bf16 needs";
}

namespace {

engine_internal::WeightLoader loader_of(const Weights& weights) {
  return [&weights](const std::string& name, const std::vector<std::int64_t>& shape) {
    std::vector<float> values = weights.load_f32(name, shape);
    release_pages(weights.record(name).bytes);
    return values;
  };
}

// bf16's precondition: the CPU.
void check_bf16(const EngineOptions& options) {
  if (options.precision != Precision::kBf16) return;
  if (const std::string why = bf16_unsupported_reason(); !why.empty())
    throw Error(ErrorKind::kUnsupported, "--precision bf16", why);
}

// int8's preconditions: the CPU and a calibration (ResNet, ViT and CLIP all have it).
void check_int8(const EngineOptions& options) {
  if (options.precision != Precision::kInt8) return;
  if (const std::string why = int8_unsupported_reason(); !why.empty())
    throw Error(ErrorKind::kUnsupported, "--precision int8", why);
  if (!options.ranges)
    throw Error(ErrorKind::kConfig, "--precision int8", "int8 needs a calibration");
}

}  // namespace

std::unique_ptr<ClipEngine> create_clip_engine(const Checkpoint& checkpoint,
                                               const EngineOptions& options) {
  const auto* clip = std::get_if<ClipConfig>(&checkpoint.config.arch);
  if (clip == nullptr)
    throw Error(ErrorKind::kUnsupported, (checkpoint.dir / "config.json").string(),
                "not a CLIP model (" + checkpoint.config.architecture + ")");
  check_bf16(options);
  check_int8(options);
  return engine_internal::make_clip_engine(*clip, loader_of(checkpoint.weights),
                                           resolve_thread_count(options.threads), options.precision,
                                           options.ranges.get());
}

std::unique_ptr<Engine> create_engine(const Checkpoint& checkpoint, const EngineOptions& options) {
  const int threads = resolve_thread_count(options.threads);
  const engine_internal::WeightLoader load = loader_of(checkpoint.weights);
  const ModelConfig& config = checkpoint.config;
  if (config.is_clip())
    throw Error(ErrorKind::kUnsupported, (checkpoint.dir / "config.json").string(),
                "a CLIP model classifies against candidate labels (give --label or --labels-file)");
  check_bf16(options);
  check_int8(options);
  if (const auto* vit = std::get_if<VitConfig>(&config.arch))
    return engine_internal::make_vit_engine(*vit, config.num_labels(), load, threads,
                                            options.precision, options.ranges.get());
  if (const auto* resnet = std::get_if<ResNetConfig>(&config.arch)) {
    // Weight layouts are chosen for the size the image processor produces.
    const ProcessorConfig& proc = checkpoint.processor;
    const bool square = proc.kind == ProcessorKind::kConvNext;
    const int height = square ? proc.shortest_edge : proc.height;
    const int width = square ? proc.shortest_edge : proc.width;
    return engine_internal::make_resnet_engine(*resnet, config.num_labels(), load, threads,
                                               height > 0 ? height : 224, width > 0 ? width : 224,
                                               options.precision, options.ranges.get());
  }
  throw Error(ErrorKind::kUnsupported, (checkpoint.dir / "config.json").string(),
              "unsupported architecture " + config.architecture);
}

}  // namespace binscan

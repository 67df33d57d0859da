#include "model/checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "util/error.h"
#include "util/file.h"
#include "util/json.h"
#include "util/shard_index.h"

namespace binscan {

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A read-only private mapping of a whole file, unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::kIo, path.string(), std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorKind::kIo, path.string(), std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error(ErrorKind::kIo, path.string(), "not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw Error(ErrorKind::kIo, path.string(),
                    std::string("cannot map: ") + std::strerror(err));
      }
      data_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

FloatTensor FloatTensor::view(std::span<const float> values) {
  FloatTensor t;
  t.view_ = values;
  return t;
}

FloatTensor FloatTensor::owned(std::vector<float> values) {
  FloatTensor t;
  t.owned_ = std::move(values);
  t.view_ = t.owned_;
  return t;
}

FloatTensor::FloatTensor(FloatTensor&& other) noexcept { *this = std::move(other); }

FloatTensor& FloatTensor::operator=(FloatTensor&& other) noexcept {
  if (this == &other) return *this;
  const bool was_owned = !other.owned_.empty();
  owned_ = std::move(other.owned_);
  view_ = was_owned ? std::span<const float>(owned_) : other.view_;
  other.owned_.clear();
  other.view_ = {};
  return *this;
}

struct Weights::Impl {
  std::filesystem::path source;  // model.safetensors or model.safetensors.index.json
  std::vector<std::unique_ptr<MappedFile>> files;
  std::unordered_map<std::string, TensorRecord> tensors;

  void add_file(const std::filesystem::path& path) {
    files.push_back(std::make_unique<MappedFile>(path));
    for (auto& r : parse_safetensors(files.back()->bytes(), path)) {
      if (tensors.count(r.name) != 0)
        throw Error(ErrorKind::kFormat, path.string(),
                    "tensor '" + r.name + "' also appears in " + tensors.at(r.name).file.string());
      auto name = r.name;
      tensors.emplace(std::move(name), std::move(r));
    }
  }
};

Weights::Weights(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Weights::Weights(Weights&&) noexcept = default;
Weights& Weights::operator=(Weights&&) noexcept = default;
Weights::~Weights() = default;

Weights Weights::open(const std::filesystem::path& model_dir) {
  auto impl = std::make_unique<Impl>();
  const auto single = model_dir / "model.safetensors";
  const auto index_path = model_dir / "model.safetensors.index.json";
  std::error_code ec;
  if (std::filesystem::exists(single, ec)) {
    impl->source = single;
    impl->add_file(single);
    return Weights(std::move(impl));
  }
  if (!std::filesystem::exists(index_path, ec)) {
    std::string cause = "no model.safetensors or model.safetensors.index.json";
    for (const char* other : {"pytorch_model.bin", "tf_model.h5", "flax_model.msgpack"})
      if (std::filesystem::exists(model_dir / other, ec))
        cause += std::string(" (found ") + other + "; binscan reads only safetensors weights)";
    throw Error(ErrorKind::kIo, model_dir.string(), cause);
  }
  impl->source = index_path;
  const auto by_shard = parse_shard_index(read_text_file(index_path), index_path.string());
  for (const auto& [shard, names] : by_shard) {
    impl->add_file(model_dir / shard);
    for (const auto& n : names) {
      auto it = impl->tensors.find(n);
      if (it == impl->tensors.end() || it->second.file != model_dir / shard)
        throw Error(ErrorKind::kCheckpoint, (model_dir / shard).string(),
                    "tensor '" + n + "' listed for this shard in " +
                        index_path.filename().string() + " is not in it");
    }
  }
  return Weights(std::move(impl));
}

bool Weights::contains(const std::string& name) const { return impl_->tensors.count(name) != 0; }

const TensorRecord& Weights::record(const std::string& name) const {
  auto it = impl_->tensors.find(name);
  if (it == impl_->tensors.end())
    throw Error(ErrorKind::kCheckpoint, impl_->source.string(), "missing tensor '" + name + "'");
  return it->second;
}

std::vector<std::string> Weights::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensors.size());
  for (const auto& [name, r] : impl_->tensors) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t Weights::total_bytes() const {
  std::uint64_t n = 0;
  for (const auto& [name, r] : impl_->tensors) n += r.bytes.size();
  return n;
}

void Weights::check(const std::string& name, const std::vector<std::int64_t>& expected) const {
  const TensorRecord& r = record(name);
  if (r.shape != expected)
    throw Error(ErrorKind::kCheckpoint, r.file.string(),
                "tensor '" + name + "' has shape " + shape_text(r.shape) + ", expected " +
                    shape_text(expected));
  if (r.dtype != DType::kF32 && r.dtype != DType::kF16 && r.dtype != DType::kBF16 &&
      r.dtype != DType::kF64)
    throw Error(ErrorKind::kUnsupported, r.file.string(),
                "tensor '" + name + "' has dtype " + r.dtype_text +
                    "; binscan reads F32, F16, BF16 and F64 weights");
}

std::vector<float> Weights::load_f32(const std::string& name,
                                     const std::vector<std::int64_t>& expected) const {
  check(name, expected);
  const TensorRecord& r = record(name);
  std::vector<float> out(static_cast<std::size_t>(r.numel()));
  convert_to_f32(r, out.data());
  return out;
}

FloatTensor Weights::view_f32(const std::string& name,
                              const std::vector<std::int64_t>& expected) const {
  check(name, expected);
  const TensorRecord& r = record(name);
  if (r.dtype == DType::kF32 && !r.bytes.empty() &&
      reinterpret_cast<std::uintptr_t>(r.bytes.data()) % alignof(float) == 0) {
    // The mapping is read-only memory of floats written by the file's producer; reading them as
    // float through an aligned pointer is what every safetensors loader does.
    return FloatTensor::view(
        {reinterpret_cast<const float*>(r.bytes.data()), static_cast<std::size_t>(r.numel())});
  }
  return FloatTensor::owned(load_f32(name, expected));
}

std::vector<TensorSpec> expected_tensors(const ModelConfig& config) {
  std::vector<TensorSpec> out;
  using S = std::vector<std::int64_t>;
  const std::int64_t labels = config.num_labels();
  if (const auto* v = std::get_if<VitConfig>(&config.arch)) {
    const std::int64_t h = v->hidden_size;
    const std::int64_t inter = v->intermediate_size;
    const std::int64_t grid = v->image_size / v->patch_size;
    out.push_back({"vit.embeddings.cls_token", S{1, 1, h}});
    out.push_back({"vit.embeddings.position_embeddings", S{1, grid * grid + 1, h}});
    out.push_back({"vit.embeddings.patch_embeddings.projection.weight",
                   S{h, v->num_channels, v->patch_size, v->patch_size}});
    out.push_back({"vit.embeddings.patch_embeddings.projection.bias", S{h}});
    for (int i = 0; i < v->num_hidden_layers; ++i) {
      const std::string p = "vit.encoder.layer." + std::to_string(i) + ".";
      for (const char* qkv : {"query", "key", "value"}) {
        out.push_back({p + "attention.attention." + qkv + ".weight", S{h, h}});
        if (v->qkv_bias) out.push_back({p + "attention.attention." + qkv + ".bias", S{h}});
      }
      out.push_back({p + "attention.output.dense.weight", S{h, h}});
      out.push_back({p + "attention.output.dense.bias", S{h}});
      out.push_back({p + "intermediate.dense.weight", S{inter, h}});
      out.push_back({p + "intermediate.dense.bias", S{inter}});
      out.push_back({p + "output.dense.weight", S{h, inter}});
      out.push_back({p + "output.dense.bias", S{h}});
      for (const char* ln : {"layernorm_before", "layernorm_after"}) {
        out.push_back({p + ln + ".weight", S{h}});
        out.push_back({p + ln + ".bias", S{h}});
      }
    }
    out.push_back({"vit.layernorm.weight", S{h}});
    out.push_back({"vit.layernorm.bias", S{h}});
    out.push_back({"classifier.weight", S{labels, h}});
    out.push_back({"classifier.bias", S{labels}});
    return out;
  }
  if (const auto* c = std::get_if<ClipConfig>(&config.arch)) {
    // CLIPModel: an encoder per tower with the same layer names.
    const auto encoder = [&out](const std::string& prefix, std::int64_t h, std::int64_t inter,
                                int layers) {
      for (int i = 0; i < layers; ++i) {
        const std::string p = prefix + "encoder.layers." + std::to_string(i) + ".";
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
          out.push_back({p + "self_attn." + proj + ".weight", S{h, h}});
          out.push_back({p + "self_attn." + proj + ".bias", S{h}});
        }
        out.push_back({p + "mlp.fc1.weight", S{inter, h}});
        out.push_back({p + "mlp.fc1.bias", S{inter}});
        out.push_back({p + "mlp.fc2.weight", S{h, inter}});
        out.push_back({p + "mlp.fc2.bias", S{h}});
        for (const char* ln : {"layer_norm1", "layer_norm2"}) {
          out.push_back({p + ln + ".weight", S{h}});
          out.push_back({p + ln + ".bias", S{h}});
        }
      }
    };
    const auto& t = c->text;
    const std::int64_t th = t.hidden_size;
    out.push_back({"text_model.embeddings.token_embedding.weight", S{t.vocab_size, th}});
    out.push_back(
        {"text_model.embeddings.position_embedding.weight", S{t.max_position_embeddings, th}});
    encoder("text_model.", th, t.intermediate_size, t.num_hidden_layers);
    out.push_back({"text_model.final_layer_norm.weight", S{th}});
    out.push_back({"text_model.final_layer_norm.bias", S{th}});
    const auto& v = c->vision;
    const std::int64_t vh = v.hidden_size, grid = v.image_size / v.patch_size;
    out.push_back({"vision_model.embeddings.class_embedding", S{vh}});
    out.push_back({"vision_model.embeddings.patch_embedding.weight",
                   S{vh, v.num_channels, v.patch_size, v.patch_size}});
    out.push_back({"vision_model.embeddings.position_embedding.weight", S{grid * grid + 1, vh}});
    // transformers' attribute is spelled pre_layrnorm.
    out.push_back({"vision_model.pre_layrnorm.weight", S{vh}});
    out.push_back({"vision_model.pre_layrnorm.bias", S{vh}});
    encoder("vision_model.", vh, v.intermediate_size, v.num_hidden_layers);
    out.push_back({"vision_model.post_layernorm.weight", S{vh}});
    out.push_back({"vision_model.post_layernorm.bias", S{vh}});
    out.push_back({"visual_projection.weight", S{c->projection_dim, vh}});
    out.push_back({"text_projection.weight", S{c->projection_dim, th}});
    out.push_back({"logit_scale", S{}});
    return out;
  }
  const auto& r = std::get<ResNetConfig>(config.arch);
  const auto conv_bn = [&out](const std::string& p, std::int64_t cout, std::int64_t cin,
                              std::int64_t k) {
    out.push_back({p + ".convolution.weight", S{cout, cin, k, k}});
    for (const char* n : {"weight", "bias", "running_mean", "running_var"})
      out.push_back({p + ".normalization." + n, S{cout}});
  };
  conv_bn("resnet.embedder.embedder", r.embedding_size, r.num_channels, 7);
  const bool bottleneck = r.layer_type == ResNetConfig::LayerType::kBottleneck;
  for (std::size_t s = 0; s < r.hidden_sizes.size(); ++s) {
    const std::int64_t in = s == 0 ? r.embedding_size : r.hidden_sizes[s - 1];
    const std::int64_t outc = r.hidden_sizes[s];
    const int stage_stride = s == 0 ? (r.downsample_in_first_stage ? 2 : 1) : 2;
    for (int l = 0; l < r.depths[s]; ++l) {
      const std::string p =
          "resnet.encoder.stages." + std::to_string(s) + ".layers." + std::to_string(l);
      const std::int64_t cin = l == 0 ? in : outc;
      const int stride = l == 0 ? stage_stride : 1;
      if (cin != outc || stride != 1) conv_bn(p + ".shortcut", outc, cin, 1);
      if (bottleneck) {
        const std::int64_t red = outc / 4;
        conv_bn(p + ".layer.0", red, cin, 1);
        conv_bn(p + ".layer.1", red, red, 3);
        conv_bn(p + ".layer.2", outc, red, 1);
      } else {
        conv_bn(p + ".layer.0", outc, cin, 3);
        conv_bn(p + ".layer.1", outc, outc, 3);
      }
    }
  }
  out.push_back({"classifier.1.weight", S{labels, r.hidden_sizes.back()}});
  out.push_back({"classifier.1.bias", S{labels}});
  return out;
}

Checkpoint Checkpoint::load(const std::filesystem::path& model_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir, ec))
    throw Error(ErrorKind::kIo, model_dir.string(),
                std::filesystem::exists(model_dir, ec) ? "not a model directory"
                                                       : "model directory does not exist");
  const auto config_path = model_dir / "config.json";
  if (!std::filesystem::exists(config_path, ec))
    throw Error(ErrorKind::kIo, config_path.string(),
                "missing (not a Hugging Face model directory?)");
  ModelConfig config = ModelConfig::from_file(config_path);
  const auto processor_path = model_dir / "preprocessor_config.json";
  if (!std::filesystem::exists(processor_path, ec))
    throw Error(ErrorKind::kIo, processor_path.string(), "missing");
  ProcessorConfig processor = ProcessorConfig::from_file(processor_path);
  Weights weights = Weights::open(model_dir);
  for (const auto& spec : expected_tensors(config)) weights.check(spec.name, spec.shape);
  return Checkpoint{model_dir, std::move(config), std::move(processor), std::move(weights)};
}

}  // namespace binscan

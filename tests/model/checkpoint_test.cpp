// Loading checkpoints: safetensors parsing and conversion against numpy/torch, sharding, and
// every kind of bad checkpoint failing with one error that names the file and the tensor.
#include "model/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>

#include "support/test_support.h"
#include "util/error.h"
#include "util/file.h"

namespace binscan {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<float> read_f32_file(const fs::path& path) {
  const auto bytes = read_file(path);
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

std::uint32_t bits_of(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// A safetensors file split into its JSON header and data section, to corrupt and write back.
struct SafetensorsParts {
  json header;
  std::vector<std::uint8_t> data;

  static SafetensorsParts read(const fs::path& path) {
    const auto bytes = read_file(path);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
    SafetensorsParts p;
    p.header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    p.data.assign(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n), bytes.end());
    return p;
  }
  void write(const fs::path& path) const { write_raw(path, header.dump(), data); }

  static void write_raw(const fs::path& path, std::string header_text,
                        const std::vector<std::uint8_t>& data,
                        std::optional<std::uint64_t> length_field = std::nullopt) {
    while (header_text.size() % 8) header_text += ' ';
    const std::uint64_t n = length_field.value_or(header_text.size());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << header_text;
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
  }
};

// Tiny checkpoints generated once per test program by make_checkpoint.py.
class Checkpoints : public ::testing::Test {
 protected:
  // ctest runs every test in its own process, so checkpoints are made on first use only.
  static void SetUpTestSuite() { dir_ = std::make_unique<test::TempDir>(); }
  static void TearDownTestSuite() { dir_.reset(); }

  static void make(const std::string& preset, const std::string& name,
                   std::vector<std::string> extra) {
    std::vector<std::string> args{"--preset",       preset, "--out", (*dir_ / name).string(),
                                  "--calib-photos", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    test::run_python("make_checkpoint.py", args);
  }

  // "vit" (tiny-vit) or "resnet" (tiny-resnet-bottleneck), generated when first asked for.
  static fs::path model(const std::string& name) {
    const auto path = *dir_ / name;
    if (!fs::exists(path)) make(name == "vit" ? "tiny-vit" : "tiny-resnet-bottleneck", name, {});
    return path;
  }

  // A fresh copy of a generated checkpoint to corrupt.
  fs::path copy_of(const std::string& name) {
    const auto dst = tmp_ / (name + "-" + std::to_string(++copies_));
    fs::copy(name == "vit" || name == "resnet" ? model(name) : *dir_ / name, dst,
             fs::copy_options::recursive);
    return dst;
  }

  // Expects Checkpoint::load(dir) to throw `kind` with a message naming `file` (and `tensor`).
  static void expect_load_error(const fs::path& dir, ErrorKind kind, const std::string& file,
                                const std::string& tensor = "") {
    try {
      Checkpoint::load(dir);
      ADD_FAILURE() << "no error loading " << dir;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(e.kind(), kind) << msg;
      EXPECT_NE(msg.find(file), std::string::npos)
          << "message does not name " << file << ": " << msg;
      if (!tensor.empty()) {
        EXPECT_NE(msg.find(tensor), std::string::npos)
            << "message does not name " << tensor << ": " << msg;
      }
      EXPECT_EQ(msg.find('\n'), std::string::npos);
    }
  }

  static inline std::unique_ptr<test::TempDir> dir_;
  test::TempDir tmp_;
  int copies_ = 0;
};

TEST_F(Checkpoints, LoadsTinyVitWithValuesEqualToTorch) {
  const auto ck = Checkpoint::load(model("vit"));
  EXPECT_TRUE(ck.config.is_vit());
  EXPECT_EQ(ck.processor.height, 64);
  test::TempDir ref;
  test::run_python("safetensors_reference.py",
                   {"dump", "--model", model("vit").string(), "--out", ref.path().string()});
  int compared = 0;
  for (const auto& spec : expected_tensors(ck.config)) {
    const auto values = ck.weights.load_f32(spec.name, spec.shape);
    const auto expected = read_f32_file(ref / (spec.name + ".f32"));
    ASSERT_EQ(values, expected) << spec.name;
    const auto view = ck.weights.view_f32(spec.name, spec.shape);
    EXPECT_TRUE(view.is_view()) << spec.name << " (F32 tensors are 4-byte aligned)";
    EXPECT_TRUE(
        std::equal(view.values().begin(), view.values().end(), expected.begin(), expected.end()));
    ++compared;
  }
  EXPECT_EQ(compared, 4 + 2 * 16 + 4);
  // Every tensor in the file is one the architecture needs.
  EXPECT_EQ(ck.weights.names().size(), static_cast<std::size_t>(compared));
}

TEST_F(Checkpoints, ResNetIgnoresNumBatchesTracked) {
  const auto ck = Checkpoint::load(model("resnet"));
  const auto& rec = ck.weights.record("resnet.embedder.embedder.normalization.num_batches_tracked");
  EXPECT_EQ(rec.dtype, DType::kI64);
  EXPECT_TRUE(rec.shape.empty());
  // It is not among the tensors binscan needs, and loading it as float is refused.
  for (const auto& spec : expected_tensors(ck.config))
    EXPECT_EQ(spec.name.find("num_batches_tracked"), std::string::npos);
  EXPECT_THROW(ck.weights.load_f32(rec.name, {}), Error);
  // The shortcut rule: stage 0 layer 0 changes channels (16 -> 32), so it has a shortcut;
  // layer 1 keeps them, so it has none.
  EXPECT_TRUE(ck.weights.contains("resnet.encoder.stages.0.layers.0.shortcut.convolution.weight"));
  EXPECT_FALSE(ck.weights.contains("resnet.encoder.stages.0.layers.1.shortcut.convolution.weight"));
  const auto names = ck.weights.names();
  std::size_t floats = 0;
  for (const auto& n : names)
    if (n.find("num_batches_tracked") == std::string::npos) ++floats;
  EXPECT_EQ(floats, expected_tensors(ck.config).size());
}

TEST_F(Checkpoints, HalfBFloatAndDoubleConvertLikeNumpy) {
  test::run_python("safetensors_reference.py", {"special", tmp_.path().string()});
  const auto file = read_file(tmp_ / "special.safetensors");
  const auto records = parse_safetensors(file, tmp_ / "special.safetensors");
  ASSERT_EQ(records.size(), 4u);
  for (const auto& r : records) {
    std::vector<float> got(static_cast<std::size_t>(r.numel()));
    convert_to_f32(r, got.data());
    const auto want = read_f32_file(tmp_ / (r.name + ".f32"));
    ASSERT_EQ(got.size(), want.size()) << r.name;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << r.name << "[" << i << "]";
      } else {
        ASSERT_EQ(bits_of(got[i]), bits_of(want[i]))
            << r.name << "[" << i << "] = " << got[i] << ", numpy " << want[i];
      }
    }
  }
}

TEST_F(Checkpoints, F16BF16AndShardedCheckpointsMatchTorch) {
  for (const auto& [name, args] : std::map<std::string, std::vector<std::string>>{
           {"f16", {"--dtype", "F16"}},
           {"bf16", {"--dtype", "BF16", "--shards", "2"}},
           {"sharded", {"--shards", "3"}}}) {
    make("tiny-resnet-basic", name, args);
    const auto ck = Checkpoint::load(*dir_ / name);
    test::TempDir ref;
    test::run_python("safetensors_reference.py",
                     {"dump", "--model", (*dir_ / name).string(), "--out", ref.path().string()});
    for (const auto& spec : expected_tensors(ck.config)) {
      ASSERT_EQ(ck.weights.load_f32(spec.name, spec.shape),
                read_f32_file(ref / (spec.name + ".f32")))
          << name << " " << spec.name;
      const auto view = ck.weights.view_f32(spec.name, spec.shape);
      EXPECT_EQ(view.is_view(), name == "sharded") << name << " " << spec.name;
    }
  }
  EXPECT_TRUE(fs::exists(*dir_ / "sharded" / "model-00003-of-00003.safetensors"));
  EXPECT_FALSE(fs::exists(*dir_ / "sharded" / "model.safetensors"));
}

TEST_F(Checkpoints, MissingFiles) {
  expect_load_error(tmp_ / "nowhere", ErrorKind::kIo, "nowhere");
  auto a = copy_of("vit");
  fs::remove(a / "config.json");
  expect_load_error(a, ErrorKind::kIo, "config.json");
  fs::remove_all(a);
  a = copy_of("vit");
  fs::remove(a / "preprocessor_config.json");
  expect_load_error(a, ErrorKind::kIo, "preprocessor_config.json");
  fs::remove_all(a);
  a = copy_of("vit");
  fs::remove(a / "model.safetensors");
  expect_load_error(a, ErrorKind::kIo, a.string());
  std::ofstream(a / "pytorch_model.bin") << "x";
  expect_load_error(a, ErrorKind::kIo, "pytorch_model.bin");
}

TEST_F(Checkpoints, UnknownArchitecture) {
  const auto a = copy_of("vit");
  auto cfg = json::parse(read_text_file(a / "config.json"));
  cfg["architectures"] = {"SwinForImageClassification"};
  std::ofstream(a / "config.json") << cfg.dump();
  expect_load_error(a, ErrorKind::kUnsupported, (a / "config.json").string());
}

TEST_F(Checkpoints, UnsupportedDtypeOfAUsedTensor) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  parts.header["vit.layernorm.weight"]["dtype"] = "I32";  // same size as F32: a valid file
  parts.write(file);
  expect_load_error(a, ErrorKind::kUnsupported, file.string(), "vit.layernorm.weight");

  // An unknown dtype is only an error for a tensor that is used.
  parts = SafetensorsParts::read(file);
  parts.header["vit.layernorm.weight"]["dtype"] = "F32";
  parts.header["extra.fp8"] = {{"dtype", "F8_E4M3"},
                               {"shape", {3}},
                               {"data_offsets", {parts.data.size(), parts.data.size() + 3}}};
  parts.data.insert(parts.data.end(), {1, 2, 3});
  parts.write(file);
  EXPECT_NO_THROW(Checkpoint::load(a));
  parts.header["vit.layernorm.bias"]["dtype"] = "F8_E4M3";  // unknown size: offsets not checked
  parts.write(file);
  expect_load_error(a, ErrorKind::kUnsupported, file.string(), "vit.layernorm.bias");
}

TEST_F(Checkpoints, TruncatedFile) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) / 2);
  // The data section ends early: the first tensor past the cut is named.
  expect_load_error(a, ErrorKind::kFormat, file.string(), "tensor '");
  fs::resize_file(file, 5);
  expect_load_error(a, ErrorKind::kFormat, file.string());
  fs::resize_file(file, 0);
  expect_load_error(a, ErrorKind::kFormat, file.string());
}

TEST_F(Checkpoints, HeaderLengthBeyondTheFile) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  SafetensorsParts::write_raw(file, parts.header.dump(), parts.data, std::uint64_t{1} << 40);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "header length");
  SafetensorsParts::write_raw(file, parts.header.dump(), {}, ~std::uint64_t{0});
  expect_load_error(a, ErrorKind::kFormat, file.string(), "header length");
}

// Hostile files: nesting 100k deep once overflowed the stack (SIGSEGV) in the parser, in dump()
// for the error line and in copies; a tiny config.json built millions of expected tensor names.
TEST_F(Checkpoints, DeepJsonIsRefusedWithoutCrashing) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  {
    const auto a = copy_of("vit");
    const auto file = a / "model.safetensors";
    auto parts = SafetensorsParts::read(file);
    auto text = parts.header.dump();
    const std::string shape = "\"shape\":";
    text.insert(text.find(shape) + shape.size(), deep + ",");  // a shape that is a deep list
    SafetensorsParts::write_raw(file, text, parts.data);
    expect_load_error(a, ErrorKind::kTooLarge, file.string(), "nested");
  }
  {
    const auto a = copy_of("vit");
    auto config = json::parse(read_text_file(a / "config.json"));
    std::string text = config.dump();
    text.insert(1, "\"deep\": " + deep + ", ");
    write_file_atomically(a / "config.json", text);
    expect_load_error(a, ErrorKind::kTooLarge, (a / "config.json").string(), "nested");
  }
}

TEST_F(Checkpoints, AbsurdLayerCountsAreRefusedBeforeAnyAllocation) {
  for (const auto& [preset, key, value] :
       {std::tuple<std::string, std::string, json>{"vit", "num_hidden_layers", 1'000'000},
        {"resnet", "depths", json::array({1'000'000, 1, 1, 1})},
        {"resnet", "depths", json::array({900, 900, 1, 1})}}) {
    const auto a = copy_of(preset);
    auto config = json::parse(read_text_file(a / "config.json"));
    config[key] = value;
    write_file_atomically(a / "config.json", config.dump());
    try {
      Checkpoint::load(a);
      ADD_FAILURE() << "no error for " << key << " = " << value.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kConfig) << e.what();
      EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
    }
  }
}

TEST_F(Checkpoints, InvalidHeaderJson) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  auto text = parts.header.dump();
  text[text.size() / 2] = '\x01';
  SafetensorsParts::write_raw(file, text, parts.data);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "JSON");
  SafetensorsParts::write_raw(file, "[1, 2]", parts.data);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "JSON object");
  parts.header["vit.layernorm.bias"]["shape"] = {-48};
  parts.write(file);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "vit.layernorm.bias");
  parts.header["vit.layernorm.bias"]["shape"] = {std::uint64_t{1} << 62, 1024};  // overflows
  parts.write(file);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "vit.layernorm.bias");
}

TEST_F(Checkpoints, OffsetsOutOfRange) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  const std::uint64_t size = parts.data.size();
  parts.header["classifier.bias"]["data_offsets"] = {size - 20, size + 20};
  parts.write(file);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "classifier.bias");
  parts.header["classifier.bias"]["data_offsets"] = {40, 0};  // end before begin
  parts.write(file);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "classifier.bias");
  parts.header["classifier.bias"]["data_offsets"] = {0, 44};  // 11 floats for shape [10]
  parts.write(file);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "classifier.bias");
}

TEST_F(Checkpoints, OverlappingOffsets) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  // classifier.bias [10] occupies [0, 40); move vit.layernorm.bias [48] onto [20, 212).
  parts.header["vit.layernorm.bias"]["data_offsets"] = {20, 20 + 48 * 4};
  parts.write(file);
  expect_load_error(a, ErrorKind::kFormat, file.string(), "overlap");
  try {
    Checkpoint::load(a);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("vit.layernorm.bias"), std::string::npos) << msg;
  }
}

TEST_F(Checkpoints, MissingTensor) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  parts.header.erase("vit.encoder.layer.1.attention.attention.key.weight");
  parts.write(file);
  expect_load_error(a, ErrorKind::kCheckpoint, file.string(),
                    "vit.encoder.layer.1.attention.attention.key.weight");
}

TEST_F(Checkpoints, MisShapedTensor) {
  const auto a = copy_of("vit");
  const auto file = a / "model.safetensors";
  auto parts = SafetensorsParts::read(file);
  parts.header["vit.embeddings.patch_embeddings.projection.weight"]["shape"] = {3, 48, 16, 16};
  parts.write(file);
  expect_load_error(a, ErrorKind::kCheckpoint, file.string(),
                    "vit.embeddings.patch_embeddings.projection.weight");
  // A config that does not match the weights is the same error.
  const auto b = copy_of("resnet");
  auto cfg = json::parse(read_text_file(b / "config.json"));
  cfg["hidden_sizes"][3] = 256;
  std::ofstream(b / "config.json") << cfg.dump();
  expect_load_error(b, ErrorKind::kCheckpoint, "model.safetensors",
                    "resnet.encoder.stages.3.layers.0");
}

TEST_F(Checkpoints, BadShardIndex) {
  make("tiny-resnet-basic", "shards", {"--shards", "2"});
  const auto index_name = "model.safetensors.index.json";
  {
    const auto a = copy_of("shards");
    fs::remove(a / "model-00002-of-00002.safetensors");
    expect_load_error(a, ErrorKind::kIo, "model-00002-of-00002.safetensors");
  }
  {
    const auto a = copy_of("shards");
    auto index = json::parse(read_text_file(a / index_name));
    index["weight_map"]["classifier.1.bias"] = "model-00001-of-00002.safetensors";
    std::ofstream(a / index_name) << index.dump();
    expect_load_error(a, ErrorKind::kCheckpoint, "model-00001-of-00002.safetensors",
                      "classifier.1.bias");
  }
  {
    const auto a = copy_of("shards");
    auto index = json::parse(read_text_file(a / index_name));
    index["weight_map"]["classifier.1.bias"] = "../model-00002-of-00002.safetensors";
    std::ofstream(a / index_name) << index.dump();
    expect_load_error(a, ErrorKind::kFormat, index_name, "classifier.1.bias");
  }
  {
    const auto a = copy_of("shards");
    std::ofstream(a / index_name) << "{\"metadata\": {}}";
    expect_load_error(a, ErrorKind::kFormat, index_name);
  }
}

TEST(Safetensors, EmptyAndScalarTensors) {
  // A hand-written file: a scalar, an empty tensor and metadata, all valid.
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]}})";
  std::vector<std::uint8_t> file(8);
  std::string padded = header;
  while (padded.size() % 8) padded += ' ';
  file[0] = static_cast<std::uint8_t>(padded.size());
  file.insert(file.end(), padded.begin(), padded.end());
  const float value = 2.5f;
  const auto* vb = reinterpret_cast<const std::uint8_t*>(&value);
  file.insert(file.end(), vb, vb + 4);
  const auto records = parse_safetensors(file, "mem");
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    if (r.name == "s") {
      EXPECT_EQ(r.numel(), 1);
      float out = 0;
      convert_to_f32(r, &out);
      EXPECT_EQ(out, 2.5f);
    } else {
      EXPECT_EQ(r.numel(), 0);
      EXPECT_EQ(r.dtype, DType::kF16);
    }
  }
}

TEST(ExpectedTensors, FullSizeCounts) {
  // vit-base: 4 embedding tensors + 16 per layer x 12 + final LayerNorm 2 + classifier 2 = 200,
  // as in google/vit-base-patch16-224's model.safetensors.
  ModelConfig vit = ModelConfig::from_json(
      json{{"architectures", {"ViTForImageClassification"}}, {"num_labels", 1000}}, "x");
  EXPECT_EQ(expected_tensors(vit).size(), 200u);
  // resnet-50: 53 convolutions (incl. 4 shortcuts) x 5 tensors + classifier 2 = 267.
  ModelConfig resnet = ModelConfig::from_json(
      json{{"architectures", {"ResNetForImageClassification"}}, {"num_labels", 1000}}, "x");
  EXPECT_EQ(expected_tensors(resnet).size(), 53u * 5 + 2);
}

}  // namespace
}  // namespace binscan

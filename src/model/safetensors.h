// The safetensors file format (huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON {"__metadata__": {...}, name: {"dtype", "shape", "data_offsets": [b, e]}},
// then the data section; offsets are relative to the start of the data section.
//
// Hand-written (no C++ library for it in Debian): the parser is small, bounds-checked and fuzzed
// (fuzz/fuzz_safetensors.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace binscan {

// kOther: a dtype name we do not know (F8_E4M3, U16, ...); an error only if the tensor is used.
enum class DType { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool, kOther };

std::string_view dtype_name(DType dtype);  // "F32", ... ("?" for kOther: see TensorRecord)
std::size_t dtype_size(DType dtype);       // bytes per element; 0 for kOther

// One tensor inside a memory-mapped safetensors file.
struct TensorRecord {
  std::string name;
  DType dtype{};
  std::vector<std::int64_t> shape;
  std::span<const std::uint8_t> bytes;  // points into the mapping
  std::filesystem::path file;
  std::string dtype_text;  // the dtype as written in the header ("F32", "F8_E4M3", ...)

  std::int64_t numel() const;
};

// safetensors refuses headers above 100 MB; so do we (a hostile length cannot make us allocate).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

// Parses and validates a whole safetensors file held in memory: header length within the file,
// the header valid JSON of the right shape, every tensor's data_offsets inside the data section,
// its byte length equal to dtype size x shape, and no two tensors overlapping. Records point into
// `file` and carry `name` as their file. Throws Error(kFormat / kTooLarge) naming `name` and, for a
// bad entry, the tensor.
std::vector<TensorRecord> parse_safetensors(std::span<const std::uint8_t> file,
                                            const std::filesystem::path& name);

// Converts one tensor's raw little-endian bytes to float32 (F32 copied, F16/BF16 widened exactly,
// F64 rounded to nearest). `out` must hold record.numel() floats. Throws Error(kUnsupported) for
// other dtypes, naming the file and tensor.
void convert_to_f32(const TensorRecord& record, float* out);

// IEEE half / bfloat16 bit patterns to float (exact).
float half_to_float(std::uint16_t bits);
float bfloat16_to_float(std::uint16_t bits);

}  // namespace binscan

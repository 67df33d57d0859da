#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json.h"

namespace binscan {

namespace {

struct DTypeInfo {
  std::string_view name;
  DType dtype;
  std::size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {"F32", DType::kF32, 4},   {"F16", DType::kF16, 2}, {"BF16", DType::kBF16, 2},
    {"F64", DType::kF64, 8},   {"I64", DType::kI64, 8}, {"I32", DType::kI32, 4},
    {"I16", DType::kI16, 2},   {"I8", DType::kI8, 1},   {"U8", DType::kU8, 1},
    {"BOOL", DType::kBool, 1},
};

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

[[noreturn]] void bad(const std::filesystem::path& name, const std::string& cause) {
  throw Error(ErrorKind::kFormat, name.string(), cause);
}

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A non-negative JSON integer that fits in uint64 (nlohmann stores it unsigned or signed).
bool as_u64(const nlohmann::json& v, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
    out = static_cast<std::uint64_t>(v.get<std::int64_t>());
    return true;
  }
  return false;
}

}  // namespace

std::string_view dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

std::size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

std::int64_t TensorRecord::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<TensorRecord> parse_safetensors(std::span<const std::uint8_t> file,
                                            const std::filesystem::path& name) {
  if (file.size() < 8)
    bad(name, "not a safetensors file: " + std::to_string(file.size()) +
                  " bytes, too short for the header length");
  const std::uint64_t header_len = read_u64_le(file.data());
  const std::uint64_t available = file.size() - 8;
  if (header_len > available)
    bad(name, "safetensors header length " + std::to_string(header_len) +
                  " exceeds the file size (" + std::to_string(file.size()) +
                  " bytes); the file is truncated or not safetensors");
  if (header_len > kMaxSafetensorsHeader)
    throw Error(ErrorKind::kTooLarge, name.string(),
                "safetensors header of " + std::to_string(header_len) + " bytes exceeds the " +
                    std::to_string(kMaxSafetensorsHeader) + "-byte limit");
  const auto* hbegin = reinterpret_cast<const char*>(file.data() + 8);
  const auto header =
      parse_json(std::string_view(hbegin, static_cast<std::size_t>(header_len)), name.string());
  if (header.is_discarded()) bad(name, "safetensors header is not valid JSON");
  if (!header.is_object()) bad(name, "safetensors header is not a JSON object");

  const std::span<const std::uint8_t> data = file.subspan(8 + header_len);
  std::vector<TensorRecord> records;
  records.reserve(header.size());
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) bad(name, "safetensors __metadata__ is not a JSON object");
      continue;
    }
    const std::string where = "tensor '" + key + "': ";
    if (!entry.is_object()) bad(name, where + "header entry is not a JSON object");
    const auto dt = entry.find("dtype");
    const auto sh = entry.find("shape");
    const auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string()) bad(name, where + "missing or invalid \"dtype\"");
    if (sh == entry.end() || !sh->is_array()) bad(name, where + "missing or invalid \"shape\"");
    if (off == entry.end() || !off->is_array() || off->size() != 2)
      bad(name, where + "missing or invalid \"data_offsets\"");

    TensorRecord r;
    r.name = key;
    r.file = name;
    r.dtype_text = dt->get<std::string>();
    r.dtype = DType::kOther;
    for (const auto& d : kDTypes)
      if (d.name == r.dtype_text) r.dtype = d.dtype;

    // numel with overflow checks: a hostile shape must not wrap around to a small size.
    std::uint64_t numel = 1;
    for (const auto& d : *sh) {
      std::uint64_t dim = 0;
      if (!as_u64(d, dim) ||
          dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        bad(name, where + "shape " + json_excerpt(*sh) + " is not a list of non-negative integers");
      if (__builtin_mul_overflow(numel, dim, &numel))
        bad(name, where + "shape " + json_excerpt(*sh) + " overflows");
      r.shape.push_back(static_cast<std::int64_t>(dim));
    }
    if (numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      bad(name, where + "shape " + json_excerpt(*sh) + " overflows");
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    if (!as_u64((*off)[0], begin) || !as_u64((*off)[1], end))
      bad(name, where + "data_offsets " + json_excerpt(*off) + " are not non-negative integers");
    if (begin > end)
      bad(name, where + "data_offsets " + json_excerpt(*off) + " end before they begin");
    if (end > data.size())
      bad(name, where + "data_offsets " + json_excerpt(*off) + " lie outside the data section (" +
                    std::to_string(data.size()) + " bytes); the file is truncated or corrupt");
    if (const std::size_t esize = dtype_size(r.dtype); esize != 0) {
      std::uint64_t need = 0;
      if (__builtin_mul_overflow(numel, esize, &need) || need != end - begin)
        bad(name, where + "data_offsets " + json_excerpt(*off) + " hold " +
                      std::to_string(end - begin) + " bytes but " + r.dtype_text + " " +
                      shape_text(r.shape) + " needs " +
                      (need == 0 && numel != 0 ? std::string("more") : std::to_string(need)));
    }
    r.bytes = data.subspan(begin, end - begin);
    records.push_back(std::move(r));
  }

  // Overlap check on the sorted ranges (empty tensors occupy nothing and cannot overlap).
  std::vector<const TensorRecord*> by_offset;
  for (const auto& r : records)
    if (!r.bytes.empty()) by_offset.push_back(&r);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorRecord* a, const TensorRecord* b) {
    return a->bytes.data() < b->bytes.data();
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    const auto* cur = by_offset[i];
    if (cur->bytes.data() < prev->bytes.data() + prev->bytes.size())
      bad(name, "tensors '" + prev->name + "' and '" + cur->name + "' overlap in the data section");
  }
  return records;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits = 0;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: normalise the mantissa into a normal float.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

void convert_to_f32(const TensorRecord& r, float* out) {
  const std::size_t n = static_cast<std::size_t>(r.numel());
  if (n == 0 && dtype_size(r.dtype) != 0) return;
  const std::uint8_t* src = r.bytes.data();
  // memcpy per element: the mapping gives no alignment guarantee for any dtype.
  switch (r.dtype) {
    case DType::kF32:
      std::memcpy(out, src, n * 4);
      return;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      return;
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = bfloat16_to_float(h);
      }
      return;
    case DType::kF64:
      for (std::size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      return;
    default:
      throw Error(ErrorKind::kUnsupported, r.file.string(),
                  "tensor '" + r.name + "' has dtype " + r.dtype_text +
                      "; binscan reads F32, F16, BF16 and F64 weights");
  }
}

}  // namespace binscan

#include "util/shard_index.h"

#include "util/error.h"
#include "util/json.h"

namespace binscan {

bool valid_shard_name(std::string_view name) {
  constexpr std::string_view kSuffix = ".safetensors";
  if (name.size() <= kSuffix.size() || name.size() > 255 || !name.ends_with(kSuffix)) return false;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '/' || c == '\\') return false;
  }
  return true;  // "." and ".." cannot end in ".safetensors"
}

ShardMap parse_shard_index(std::string_view text, const std::string& subject) {
  const auto index = parse_json(text, subject);
  if (index.is_discarded()) throw Error(ErrorKind::kFormat, subject, "not valid JSON");
  const auto map_it = index.is_object() ? index.find("weight_map") : index.end();
  if (map_it == index.end() || !map_it->is_object() || map_it->empty())
    throw Error(ErrorKind::kFormat, subject, "no \"weight_map\" object");
  ShardMap out;
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string() || !valid_shard_name(shard.get_ref<const std::string&>())) {
      throw Error(ErrorKind::kFormat, subject,
                  "tensor " + json_excerpt(tensor) + " maps to an invalid shard name " +
                      json_excerpt(shard) +
                      " (expected a plain file name ending in .safetensors, no directory)");
    }
    out[shard.get<std::string>()].push_back(tensor);
  }
  return out;
}

}  // namespace binscan

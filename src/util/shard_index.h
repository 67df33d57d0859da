// model.safetensors.index.json: the one reading of a sharded checkpoint's index and the one rule
// for shard names, shared by the downloader (hub/), the loader (model/) and `models` (the cache
// scan). It lives in util/ because hub/ and model/ are siblings that may not include each other.
//
// A shard name is a plain file name in the snapshot directory ending in ".safetensors": no
// directory part (the loader reads shards beside the index only, so "sub/x.safetensors" is
// refused by both rather than downloaded and never loaded), no "..", no NUL or other control
// byte, at most 255 bytes. Hugging Face's own sharded checkpoints all have this form
// (model-00001-of-00002.safetensors).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace binscan {

// Whether `name` is a shard name binscan downloads and loads (see above).
bool valid_shard_name(std::string_view name);

// Shard name -> the tensors the index maps to it, sorted by shard name (deterministic order).
using ShardMap = std::map<std::string, std::vector<std::string>>;

// Parses the index text through the JSON policy (util/json.h): a "weight_map" object of
// tensor -> shard, every shard name valid, at least one entry. Throws Error(kFormat) (or
// kTooLarge for absurd nesting) naming `subject`, never echoing an unbounded value.
ShardMap parse_shard_index(std::string_view text, const std::string& subject);

}  // namespace binscan

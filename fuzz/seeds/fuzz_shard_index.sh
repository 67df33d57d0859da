#!/usr/bin/env bash
# Seeds for fuzz_shard_index: small model.safetensors.index.json files.
set -euo pipefail
out=$1
mkdir -p "$out"
echo '{"metadata": {"total_size": 16}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}' >"$out/two.json"
echo '{"weight_map": {"x": "../x.safetensors", "y": "sub/y.safetensors"}}' >"$out/bad.json"

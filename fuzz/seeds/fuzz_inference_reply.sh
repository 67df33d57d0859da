#!/usr/bin/env bash
# Seeds for fuzz_inference_reply: Inference API answers, plain and batched.
set -euo pipefail
out=$1
mkdir -p "$out"
echo '[{"label": "tabby, tabby cat", "score": 0.91}, {"label": "tiger cat", "score": 0.05}]' >"$out/plain.json"
echo '[[{"label": "a", "score": 0.5}, {"label": "b", "score": 0.25}]]' >"$out/batched.json"
echo '{"error": "Model is loading", "estimated_time": 20.0}' >"$out/error.json"

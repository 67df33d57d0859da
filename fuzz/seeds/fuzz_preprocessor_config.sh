#!/usr/bin/env bash
# Seeds for fuzz_preprocessor_config: the preprocessor configs kept in models/configs.
set -euo pipefail
out=$1
mkdir -p "$out"
here=$(dirname "$0")/../../models/configs
for d in "$here"/*/; do cp "$d/preprocessor_config.json" "$out/$(basename "$d").json"; done
echo '{"image_processor_type": "ViTImageProcessor", "size": {"height": 8, "width": 8}}' >"$out/min.json"

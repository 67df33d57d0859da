#!/usr/bin/env bash
# Seeds for fuzz_safetensors (see fuzz/CMakeLists.txt): small safetensors files written by the
# reference writer (tests/reference/torch_reference.py), generated on the fly, never committed.
set -euo pipefail
out=$1
mkdir -p "$out"
exec /usr/bin/python3 - "$out" "$(dirname "$0")/../../tests/reference" <<'PY'
import os, sys
import torch
sys.path.insert(0, sys.argv[2])
import torch_reference as ref
out = sys.argv[1]
g = torch.Generator().manual_seed(0)
ref.write_safetensors(os.path.join(out, "small.safetensors"), {
    "a.weight": torch.randn((3, 2), generator=g),
    "a.bias": torch.randn((3,), generator=g).half(),
    "b": torch.randn((2, 2), generator=g).bfloat16(),
    "c": torch.randn((2,), generator=g).double(),
    "n": torch.tensor(7, dtype=torch.int64),
    "e": torch.zeros((0, 4)),
})
ref.write_safetensors(os.path.join(out, "one.safetensors"), {"x": torch.ones(1)})
ref.write_safetensors(os.path.join(out, "meta.safetensors"), {"y": torch.ones(2, dtype=torch.int8)},
                      metadata={"format": "pt", "note": "seed"})
PY

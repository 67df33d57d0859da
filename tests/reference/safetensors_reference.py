#!/usr/bin/python3
"""numpy/torch reference values for binscan's safetensors reader (tests/model/).

  safetensors_reference.py special OUT_DIR
      writes OUT_DIR/special.safetensors with tensors
        half  F16  [65536]  every half bit pattern 0..65535
        bf16  BF16 [65536]  every bfloat16 bit pattern
        f64   F64  [N]      doubles that round in interesting ways (ties, overflow, subnormals)
        f32   F32  [N]      float32 values
      and OUT_DIR/<name>.f32: the same tensors converted to float32 by numpy/torch (raw
      little-endian float32), the reference for binscan's load_f32.

  safetensors_reference.py dump --model DIR --out OUT_DIR
      writes OUT_DIR/<tensor name>.f32 for every floating-point tensor of the checkpoint,
      converted to float32 by torch.
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def special(out):
    os.makedirs(out, exist_ok=True)
    bits = np.arange(65536, dtype=np.uint16)
    half = torch.from_numpy(bits.view(np.float16).copy())
    bf16 = torch.from_numpy(bits.view(np.int16).copy()).view(torch.bfloat16)
    f64 = np.array([0.0, -0.0, 1.0, 1 / 3, -2.5e-40, 1e-46, 3.4028235677973366e38, 3.5e38, -1e300,
                    np.inf, -np.inf, 1.0000000596046448, 1.0000001788139343, 5e-324,
                    1.401298464324817e-45, 7.006492321624085e-46, np.pi, -np.e], dtype=np.float64)
    f32 = np.array([0.0, -1.5, 3.25e-39, 1e30, np.inf], dtype=np.float32)
    tensors = {"half": half, "bf16": bf16, "f64": torch.from_numpy(f64), "f32": torch.from_numpy(f32)}
    ref.write_safetensors(os.path.join(out, "special.safetensors"), tensors)
    with np.errstate(over="ignore"):
        expected = {
            "half": bits.view(np.float16).astype(np.float32),
            "bf16": bf16.float().numpy(),
            "f64": f64.astype(np.float32),
            "f32": f32,
        }
    for name, arr in expected.items():
        arr.astype("<f4").tofile(os.path.join(out, name + ".f32"))


def dump(model, out):
    os.makedirs(out, exist_ok=True)
    for name, t in ref.read_safetensors(model).items():
        if t.is_floating_point():
            t.float().numpy().astype("<f4").tofile(os.path.join(out, name + ".f32"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("special")
    s.add_argument("out")
    d = sub.add_parser("dump")
    d.add_argument("--model", required=True)
    d.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "special":
        special(a.out)
    else:
        dump(a.model, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

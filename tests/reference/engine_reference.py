#!/usr/bin/python3
"""Reference logits for the engine's parity tests: torch_reference's model in float32 (what the
engine is compared with) and the same model in float64 (how far float32 itself is from the exact
result, so the tests know which differences are rounding and which are bugs).

  engine_reference.py --model DIR (--images A.jpg ... | --pixels X.npy) --out-dir OUT

writes OUT/pixels.npy (Python-preprocessed when --images), OUT/logits.npy (float32) and
OUT/logits64.npy (float64 computation, stored as float32).
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", nargs="+")
    ap.add_argument("--pixels")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    if a.images:
        with open(os.path.join(a.model, "preprocessor_config.json")) as f:
            pixels = ref.preprocess_images(a.images, json.load(f))
    else:
        pixels = np.load(a.pixels).astype(np.float32)
    np.save(os.path.join(a.out_dir, "pixels.npy"), pixels)
    model = ref.load_model(a.model)
    with torch.no_grad():
        logits = model(torch.from_numpy(pixels)).numpy().astype(np.float32)
        np.save(os.path.join(a.out_dir, "logits.npy"), logits)
        model = model.double()
        logits64 = model(torch.from_numpy(pixels).double()).numpy().astype(np.float32)
        np.save(os.path.join(a.out_dir, "logits64.npy"), logits64)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Pillow + numpy doing the identical work to preprocess_bench: open, exif_transpose,
convert("RGB"), resize (reducing_gap=None), centre crop, rescale, normalise — transformers'
PIL-based processors reduced to their numeric steps (tests/reference/pil_preprocess.py), without
transformers' own Python overhead, so the comparison favours Pillow slightly.

  pil_bench.py --config DIR [--config DIR] [--repeat N] [--out DIR] PHOTO...
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "reference"))
import pil_preprocess as ref  # noqa: E402


def run(photo, p):
    im = ref.load_image(photo)  # open, exif_transpose, convert("RGB")
    prepared = ref.prepare(im, p)
    return ref.pixel_values(prepared, p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", action="append", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("photos", nargs="+")
    a = ap.parse_args()
    for cfg_dir in a.config:
        cfg_file = cfg_dir if cfg_dir.endswith(".json") else os.path.join(cfg_dir, "preprocessor_config.json")
        with open(cfg_file) as f:
            p = ref.processor_from_config(json.load(f))
        name = os.path.basename(os.path.abspath(cfg_dir))
        for photo in a.photos:
            pv = run(photo, p)  # warm-up
            if a.out:
                np.save(os.path.join(a.out, name + "__" + os.path.basename(photo) + ".npy"), pv)
            times = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                run(photo, p)
                times.append((time.perf_counter() - t0) * 1e3)
            print(json.dumps({"tool": "pillow", "threads": 1, "config": name, "photo": photo,
                              "ms": round(statistics.median(times), 3)}), flush=True)


if __name__ == "__main__":
    main()

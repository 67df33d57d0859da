#!/usr/bin/python3
"""Checks that binscan's and Pillow's pixel_values are identical, then prints the timing table.

  compare.py BINSCAN_NPY_DIR PILLOW_NPY_DIR RESULTS.jsonl
"""
import collections
import glob
import json
import os
import statistics
import sys

import numpy as np


def main():
    ours, theirs, results = sys.argv[1:4]
    files = sorted(glob.glob(os.path.join(theirs, "*.npy")))
    worst = 0.0
    identical = 0
    for f in files:
        a = np.load(f)
        b = np.load(os.path.join(ours, os.path.basename(f)))
        if a.shape != b.shape:
            sys.exit(f"shape mismatch for {os.path.basename(f)}: {a.shape} vs {b.shape}")
        worst = max(worst, float(np.abs(a - b).max()))
        identical += bool(np.array_equal(a, b))
    print(f"output check: {identical}/{len(files)} pixel_values identical to Pillow's "
          f"(max |difference| {worst:g})")
    if worst > 1e-6 or not files:
        sys.exit("binscan and Pillow outputs differ")

    rows = collections.defaultdict(dict)  # (group, config) -> column -> [ms]
    for line in open(results):
        r = json.loads(line)
        key = (r["group"], r["config"])
        col = r["tool"] if r["tool"] == "pillow" else f"binscan {r['threads']}T"
        rows[key].setdefault(col, []).append(r["ms"])
    print()
    print("| photos | model config | Pillow ms/image | binscan 1 thread | ratio | binscan 2 threads (throughput) | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (group, config), cols in sorted(rows.items()):
        pil = statistics.median(cols["pillow"])
        one = statistics.median(cols["binscan 1T"])
        two = statistics.median(cols["binscan 2T"]) if "binscan 2T" in cols else float("nan")
        print(f"| {group} | {config} | {pil:.1f} | {one:.1f} | {one / pil:.2f}x | {two:.1f} | {two / pil:.2f}x |")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Times binscan, ONNX Runtime (node) and PyTorch on the same checkpoints, alternating them in one
run so that load from other processes on the machine affects all three alike; reports the median
ms/image over rounds, the median of the per-round binscan/ONNX Runtime ratios, and each engine
process's peak resident memory (/usr/bin/time -v).

  compare.py --models DIR... --binscan CMD [--batches 1 8] [--threads 2] [--rounds 3]

Each measurement is one process: load the model, 2 warm-up passes, then N timed passes
(median). `--binscan` is the command that prints `binscan bench --format json` output given
`--model DIR --batch B --threads N --iterations K` (binscan bench, or engine_bench). The engine
"binscan-bf16" is the same command with `--precision bf16` (CPUs with AVX-512 BF16 or AMX),
"binscan-int8" with `--precision int8 --calibration DIR/calibration.json` (models that have that
file, made by run.sh with `binscan calibrate`; the others get no int8 figures);
"binscan-passive" is binscan with OMP_WAIT_POLICY=passive (idle OpenMP threads sleep instead of
spinning: what matters when other processes share the cores).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ["binscan", "binscan-bf16", "binscan-int8", "onnxruntime", "pytorch"]  # and "binscan-passive"


def iterations_for(model_dir, batch):
    name = os.path.basename(os.path.normpath(model_dir))
    if name.startswith("clip"):  # ViT-B/32: 50 tokens, a quarter of ViT-B/16's work
        return 30 if batch == 1 else 6
    vit = "vit" in name
    if batch == 1:
        return 15 if vit else 30
    return 3 if vit else 6


def command(engine, model_dir, batch, threads, iterations, binscan_cmd):
    if engine.startswith("binscan"):
        extra = ["--precision", "bf16"] if engine == "binscan-bf16" else []
        if engine == "binscan-int8":
            extra = ["--precision", "int8", "--calibration", calibration(model_dir)]
        env = ["env", "OMP_WAIT_POLICY=passive"] if engine == "binscan-passive" else []
        return env + binscan_cmd + ["--model", model_dir, "--batch", str(batch), "--threads", str(threads),
                              "--iterations", str(iterations), "--format", "json"] + extra
    if engine == "onnxruntime":
        with open(os.path.join(model_dir, "config.json")) as f:
            size = json.load(f).get("image_size", 224)
        return ["node", os.path.join(HERE, "ort_bench.js"), os.path.join(model_dir, "model.onnx"),
                str(batch), str(threads), str(iterations), str(size)]
    return ["/usr/bin/python3", os.path.join(HERE, "torch_bench.py"), model_dir, str(batch),
            str(threads), str(iterations)]


def calibration(model_dir):
    return os.path.join(model_dir, "calibration.json")


def runs(engine, model_dir):
    return engine != "binscan-int8" or os.path.exists(calibration(model_dir))


def measure(cmd):
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        r = subprocess.run(["/usr/bin/time", "-v", "-o", t.name] + cmd, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
        rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t.read()).group(1))
    line = [l for l in r.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)["ms_per_image"], rss_kb / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--binscan", required=True, help="command prefix, split on spaces")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engines", nargs="+", default=ENGINES)
    ap.add_argument("--json", help="also write all measurements here")
    a = ap.parse_args()
    binscan_cmd = a.binscan.split()
    results = {}  # (model, batch, engine) -> [(ms, rss)]
    for rnd in range(a.rounds):
        for model in a.models:
            for batch in a.batches:
                # Rotate the order every round so no engine always runs first.
                order = a.engines[rnd % len(a.engines):] + a.engines[:rnd % len(a.engines)]
                for engine in order:
                    if not runs(engine, model):
                        continue
                    it = iterations_for(model, batch)
                    ms, rss = measure(command(engine, model, batch, a.threads, it, binscan_cmd))
                    results.setdefault((model, batch, engine), []).append((ms, rss))
                    print(f"round {rnd + 1}/{a.rounds} {os.path.basename(model)} batch {batch} "
                          f"{engine}: {ms:.1f} ms/image, peak RSS {rss:.0f} MB", file=sys.stderr,
                          flush=True)

    print(f"\n{a.threads} threads, median of {a.rounds} alternating rounds "
          f"(ms/image; ratio = binscan engine / other engine, median of per-round ratios; "
          f"peak RSS in MB)\n")
    ours = [e for e in a.engines if e.startswith("binscan")]
    others = [e for e in a.engines if not e.startswith("binscan")]
    pairs = [(o, e) for o in ours for e in others] + [(o, e) for o in ours for e in ours if o < e]
    header = "| model | batch |"
    for e in a.engines:
        header += f" {e} ms/img |"
    for o, e in pairs:
        header += f" {o}/{e} |"
    for e in a.engines:
        header += f" {e} RSS |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for model in a.models:
        for batch in a.batches:
            row = f"| {os.path.basename(os.path.normpath(model))} | {batch} |"
            def got(e):
                return results.get((model, batch, e), [])
            for e in a.engines:
                row += f" {statistics.median(m for m, _ in got(e)):.1f} |" if got(e) else " - |"
            for o, e in pairs:
                ratios = [b[0] / x[0] for b, x in zip(got(o), got(e))]
                row += f" {statistics.median(ratios):.2f}x |" if ratios else " - |"
            for e in a.engines:
                row += f" {max(r for _, r in got(e)):.0f} |" if got(e) else " - |"
            print(row)
    if a.json:
        with open(a.json, "w") as f:
            json.dump([{"model": m, "batch": b, "engine": e, "ms_per_image": [x[0] for x in v],
                        "peak_rss_mb": [x[1] for x in v]} for (m, b, e), v in results.items()],
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

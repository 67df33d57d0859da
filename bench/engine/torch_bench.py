#!/usr/bin/python3
"""Times PyTorch (Debian's python3-torch) on the reference module (CLIP: clip_zero_shot.py) with
synthetic input; prints
one JSON line like `binscan bench --format json`.

  torch_bench.py MODEL_DIR BATCH THREADS ITERATIONS
"""

import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import torch_reference as ref  # noqa: E402

sys.path.insert(0, HERE)
import clip_zero_shot  # noqa: E402


def main():
    model_dir, batch, threads, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    if clip_zero_shot.is_clip(model_dir):  # the zero-shot classifier, as binscan bench times it
        model = clip_zero_shot.ZeroShot(model_dir).eval()
        size = model.image_size
    else:
        model = ref.load_model(model_dir).eval()
        size = getattr(model.config, "image_size", 224)
    x = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    times = []
    with torch.inference_mode():
        for _ in range(2):
            model(x)
        for _ in range(iterations):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
    ms = statistics.median(times) / batch
    print(json.dumps({"model": model_dir, "batch": batch, "threads": threads, "ms_per_image": ms,
                      "images_per_second": 1000 / ms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

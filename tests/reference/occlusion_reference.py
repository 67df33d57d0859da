#!/usr/bin/python3
"""Occlusion map computed independently of binscan: Pillow + numpy preprocessing and the PyTorch
mirror of transformers' model (torch_reference.py), a grey patch (RGB 128 through the processor's
rescale and normalisation) slid over the model's view, the pipeline's softmax/sigmoid of the label.

  occlusion_reference.py --model DIR --image PHOTO --label ID --patch P --stride S

Prints JSON: {"score", "xs", "ys", "drops" (rows of base - occluded), "view_in_photo":
{"scale_x", "scale_y", "offset_x", "offset_y"}}.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def positions(size, patch, stride):
    if patch >= size:
        return [0]
    out = list(range(0, size - patch + 1, stride))
    if out[-1] + patch < size:
        out.append(size - patch)
    return out


def view_in_photo(s, w, h):
    """Where the processor's output sits in the photo: photo = (view + offset) * scale."""
    if not s["do_resize"]:
        return 1.0, 1.0, 0, 0
    if s["kind"] == "vit":
        return w / s["width"], h / s["height"], 0, 0
    shortest = s["shortest_edge"]
    if shortest < 384:
        target = int(shortest / s["crop_pct"])
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = target, int(target * long / short)
        new_h, new_w = (new_long, new_short) if w <= h else (new_short, new_long)
        return w / new_w, h / new_h, (new_w - shortest) // 2, (new_h - shortest) // 2
    return w / shortest, h / shortest, 0, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--label", type=int, required=True)
    ap.add_argument("--patch", type=int, required=True)
    ap.add_argument("--stride", type=int, required=True)
    ap.add_argument("--crop", help="X,Y,W,H: the map of that box of the photo (a tile: Image.crop of "
                    "the photo as displayed), placed in the photo")
    a = ap.parse_args()
    with open(os.path.join(a.model, "preprocessor_config.json")) as f:
        s = ref.processor_settings(json.load(f))
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = ref.Cfg(json.load(f))
    model = ref.load_model(a.model)
    img = ref.load_image(a.image)
    origin = (0, 0)
    if a.crop:
        x, y, w, h = (int(v) for v in a.crop.split(","))
        img = img.crop((x, y, x + w, y + h))
        origin = (x, y)
    base = ref.to_pixel_values(ref.prepare_image(img, s), s)
    grey = ref.to_pixel_values(np.full((1, 1, 3), 128, dtype=np.uint8), s)[:, 0, 0]
    _, h, w = base.shape
    xs, ys = positions(w, a.patch, a.stride), positions(h, a.patch, a.stride)
    copies = [base]
    for y in ys:
        for x in xs:
            c = base.copy()
            c[:, y:y + a.patch, x:x + a.patch] = grey[:, None, None]
            copies.append(c)
    scores = []
    with torch.no_grad():
        for i in range(0, len(copies), 16):
            logits = model(torch.from_numpy(np.stack(copies[i:i + 16]))).numpy()
            scores.extend(float(ref.scores_of(row, cfg)[a.label]) for row in logits)
    base_score = scores[0]
    drops = np.array([base_score - v for v in scores[1:]]).reshape(len(ys), len(xs))
    sx, sy, ox, oy = view_in_photo(s, img.size[0], img.size[1])
    print(json.dumps({"score": base_score, "xs": xs, "ys": ys, "drops": drops.tolist(),
                      "view_in_photo": {"scale_x": sx, "scale_y": sy, "offset_x": ox, "offset_y": oy,
                                        "origin_x": origin[0], "origin_y": origin[1]}}))


if __name__ == "__main__":
    main()

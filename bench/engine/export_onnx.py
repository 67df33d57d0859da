#!/usr/bin/python3
"""Exports a checkpoint directory to ONNX (model.onnx next to the safetensors) with
torch.onnx.export, from the same PyTorch module the parity tests use (tests/reference/
torch_reference.py; for CLIP, the zero-shot classifier of clip_zero_shot.py: image tower,
projection and similarities to the default labels), so ONNX Runtime runs exactly the weights
binscan runs.

  export_onnx.py MODEL_DIR [--opset 14]
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import torch_reference as ref  # noqa: E402

sys.path.insert(0, HERE)
import clip_zero_shot  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--opset", type=int, default=14)
    a = ap.parse_args()
    if clip_zero_shot.is_clip(a.model_dir):
        model = clip_zero_shot.ZeroShot(a.model_dir).eval()
        size = model.image_size
    else:
        model = ref.load_model(a.model_dir).eval()
        size = getattr(model.config, "image_size", 224)
    example = torch.randn(1, 3, size, size)
    out = os.path.join(a.model_dir, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(model, (example,), out, input_names=["pixel_values"],
                          output_names=["logits"], opset_version=a.opset,
                          dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

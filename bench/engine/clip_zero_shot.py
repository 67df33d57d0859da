"""CLIP's zero-shot classifier as one PyTorch module, for the engine benchmark: pixel_values ->
logits_per_image against fixed candidate labels, the work `binscan bench --model CLIP_DIR` times
(the image tower, visual_projection, the cosine similarities; the labels' text embeddings are
computed once, here at load, as binscan computes them once per label set). Built on the parity
tests' mirror of modeling_clip.py (tests/reference/clip_reference.py), so ONNX Runtime and
PyTorch run exactly the weights binscan runs.
"""

import json
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import clip_reference as clipref  # noqa: E402
import clip_tokenizer_reference as tokref  # noqa: E402
import torch_reference as ref  # noqa: E402

# `binscan bench`'s labels and template when none are given.
DEFAULT_LABELS = ["a trash bin", "a street with no bin"]
DEFAULT_TEMPLATE = "This is a photo of {}."


def is_clip(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f).get("model_type") == "clip"


class ZeroShot(nn.Module):
    def __init__(self, model_dir, labels=DEFAULT_LABELS, template=DEFAULT_TEMPLATE):
        super().__init__()
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        model = clipref.CLIPModel(cfg)
        state = ref.read_safetensors(model_dir)
        model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
        model.eval()
        self.vision_model = model.vision_model
        self.visual_projection = model.visual_projection
        tok = tokref.Tokenizer(model_dir)
        seqs = [tok.encode(template.format(label), 77) for label in labels]
        longest = max(len(s) for s in seqs)
        ids = torch.tensor([s + [tok.encoder[tokref.EOS]] * (longest - len(s)) for s in seqs])
        mask = torch.tensor([[1] * len(s) + [0] * (longest - len(s)) for s in seqs])
        with torch.no_grad():
            text = model.text_projection(model.text_model(ids, mask))
            text = text / text.norm(p=2, dim=-1, keepdim=True)
        self.register_buffer("text_t", (text * model.logit_scale.exp()).t().contiguous())
        self.image_size = clipref.tower(cfg, "vision_config", clipref.VISION_DEFAULTS)["image_size"]

    def forward(self, pixel_values):
        image = self.visual_projection(self.vision_model(pixel_values))
        image = image / image.norm(p=2, dim=-1, keepdim=True)
        return image @ self.text_t  # logits_per_image

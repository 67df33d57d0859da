#!/usr/bin/python3
"""PyTorch reference for binscan's inference engine: transformers' ViT and ResNet, re-written.

transformers is not installed here, so this file mirrors, module for module and with the same
parameter names, `transformers/models/vit/modeling_vit.py` (ViTForImageClassification, eager
attention) and `transformers/models/resnet/modeling_resnet.py` (ResNetForImageClassification),
in eval mode, fp32. It also holds a self-written safetensors reader/writer (the `safetensors`
package is not installed either) and transformers' PIL image preprocessing (load_image +
ViTImageProcessor / ConvNextImageProcessor), so reference logits for real photos do not depend
on binscan's C++ preprocessing.

Usage (run with Debian's interpreter, /usr/bin/python3):

  # logits of a checkpoint directory for given pixel_values [N,3,H,W] (float32 .npy)
  torch_reference.py --model DIR --pixels X.npy --out logits.npy [--probs probs.npy]

  # photos preprocessed here in Python (Pillow + transformers' formulas), then the model;
  # --json writes one record per photo: image, logits, probabilities and the top-k predictions
  # exactly as transformers' ImageClassificationPipeline would give them.
  torch_reference.py --model DIR --images a.jpg b.jpg --out logits.npy \
      [--pixels-out pixels.npy] [--json out.json] [--top-k 5]

  # only preprocess (no model needed beyond preprocessor_config.json)
  torch_reference.py --model DIR --images a.jpg --pixels-out pixels.npy

As a module: `load_model(dir)` -> torch.nn.Module (eval), `preprocess_images(paths, proc_cfg)`,
`read_safetensors(path_or_dir)`, `write_safetensors(path, {name: tensor}, dtype)`,
`postprocess(logits_row, config, top_k)`.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# --------------------------------------------------------------------------------------------
# safetensors (format: u64 little-endian header length N, N bytes of JSON header, raw data)
# --------------------------------------------------------------------------------------------

ST_DTYPES = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}


def _tensor_bytes(t):
    t = t.contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def serialize_safetensors(tensors, metadata=None):
    """bytes of a safetensors file holding {name: torch.Tensor} (dtypes kept as given).

    Layout as the Rust `safetensors` crate writes it: data sorted by dtype size (largest first)
    then name, header JSON compact, padded with spaces to a multiple of 8 bytes."""
    items = sorted(tensors.items(), key=lambda kv: (-ST_DTYPES[TORCH_TO_ST[kv[1].dtype]][1], kv[0]))
    header = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    blobs = []
    offset = 0
    for name, t in items:
        b = _tensor_bytes(t)
        header[name] = {
            "dtype": TORCH_TO_ST[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(blobs)


def write_safetensors(path, tensors, metadata=None):
    with open(path, "wb") as f:
        f.write(serialize_safetensors(tensors, metadata))


def read_safetensors_file(path):
    """{name: torch.Tensor} of one safetensors file (the header's __metadata__ skipped)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, size = ST_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        raw = data[base + begin : base + end]
        shape = info["shape"]
        count = int(np.prod(shape)) if shape else 1
        assert len(raw) == count * size, name
        if dtype == torch.bfloat16:
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.int16).copy()).view(torch.bfloat16)
        else:
            np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
            t = torch.from_numpy(np.frombuffer(raw, dtype=np_dtype).copy())
        out[name] = t.reshape(shape)
    return out


def read_safetensors(model_dir_or_file):
    """All tensors of model.safetensors or of the shards listed in model.safetensors.index.json."""
    p = model_dir_or_file
    if os.path.isfile(p):
        return read_safetensors_file(p)
    single = os.path.join(p, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors_file(single)
    with open(os.path.join(p, "model.safetensors.index.json")) as f:
        index = json.load(f)
    out = {}
    for shard in sorted(set(index["weight_map"].values())):
        out.update(read_safetensors_file(os.path.join(p, shard)))
    return out


# --------------------------------------------------------------------------------------------
# activations: transformers' ACT2FN (activations.py)
# --------------------------------------------------------------------------------------------


def activation(name):
    if name in ("gelu", "gelu_python"):
        return lambda x: F.gelu(x)
    if name == "gelu_pytorch_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu_new":
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "gelu_fast":
        return lambda x: 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))
    if name == "gelu_accurate":
        c = math.sqrt(2 / math.pi)
        return lambda x: 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * torch.pow(x, 3))))
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "relu":
        return F.relu
    if name in ("silu", "swish"):
        return F.silu
    raise ValueError(f"unsupported hidden_act {name!r}")


class Act(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.fn = activation(name)

    def forward(self, x):
        return self.fn(x)


# --------------------------------------------------------------------------------------------
# ViT (modeling_vit.py)
# --------------------------------------------------------------------------------------------

VIT_DEFAULTS = dict(
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    hidden_act="gelu",
    layer_norm_eps=1e-12,
    image_size=224,
    patch_size=16,
    num_channels=3,
    qkv_bias=True,
)

RESNET_DEFAULTS = dict(
    num_channels=3,
    embedding_size=64,
    hidden_sizes=[256, 512, 1024, 2048],
    depths=[3, 4, 6, 3],
    layer_type="bottleneck",
    hidden_act="relu",
    downsample_in_first_stage=False,
    downsample_in_bottleneck=False,
)


class Cfg:
    """config.json with transformers' defaults for the fields we use."""

    def __init__(self, d):
        self.raw = d
        arch = (d.get("architectures") or [None])[0]
        if arch is None:
            arch = {"vit": "ViTForImageClassification", "resnet": "ResNetForImageClassification"}[
                d["model_type"]
            ]
        self.architecture = arch
        defaults = VIT_DEFAULTS if arch == "ViTForImageClassification" else RESNET_DEFAULTS
        for k, v in defaults.items():
            setattr(self, k, d.get(k, v))
        if "id2label" in d:
            n = len(d["id2label"])
            self.id2label = {int(k): v for k, v in d["id2label"].items()}
        else:
            n = d.get("num_labels", 2)
            self.id2label = {}
        n = d.get("num_labels", n)
        self.num_labels = n
        for i in range(n):
            self.id2label.setdefault(i, f"LABEL_{i}")
        self.problem_type = d.get("problem_type")


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_patches = (c.image_size // c.patch_size) ** 2
        self.projection = nn.Conv2d(c.num_channels, c.hidden_size, kernel_size=c.patch_size, stride=c.patch_size)

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.hidden_size))
        self.patch_embeddings = ViTPatchEmbeddings(c)
        self.position_embeddings = nn.Parameter(torch.zeros(1, self.patch_embeddings.num_patches + 1, c.hidden_size))

    def forward(self, pixel_values):
        emb = self.patch_embeddings(pixel_values)
        cls = self.cls_token.expand(emb.shape[0], -1, -1)
        emb = torch.cat((cls, emb), dim=1)
        return emb + self.position_embeddings


class ViTSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.num_heads = c.num_attention_heads
        self.head_size = c.hidden_size // c.num_attention_heads
        all_head = self.num_heads * self.head_size
        self.query = nn.Linear(c.hidden_size, all_head, bias=c.qkv_bias)
        self.key = nn.Linear(c.hidden_size, all_head, bias=c.qkv_bias)
        self.value = nn.Linear(c.hidden_size, all_head, bias=c.qkv_bias)

    def split(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, h):
        q, k, v = self.split(self.query(h)), self.split(self.key(h)), self.split(self.value(h))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        probs = F.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.shape[0], ctx.shape[1], -1)


class ViTSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, h):
        return self.dense(h)


class ViTAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = ViTSelfAttention(c)
        self.output = ViTSelfOutput(c)

    def forward(self, h):
        return self.output(self.attention(h))


class ViTIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.act = Act(c.hidden_act)

    def forward(self, h):
        return self.act(self.dense(h))


class ViTOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size)

    def forward(self, h, residual):
        return self.dense(h) + residual


class ViTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = ViTAttention(c)
        self.intermediate = ViTIntermediate(c)
        self.output = ViTOutput(c)
        self.layernorm_before = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h):
        h = self.attention(self.layernorm_before(h)) + h
        return self.output(self.intermediate(self.layernorm_after(h)), h)


class ViTEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, h):
        for layer in self.layer:
            h = layer(h)
        return h


class ViTModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = ViTEmbeddings(c)
        self.encoder = ViTEncoder(c)
        self.layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, pixel_values):
        return self.layernorm(self.encoder(self.embeddings(pixel_values)))


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.vit = ViTModel(c)
        self.classifier = nn.Linear(c.hidden_size, c.num_labels)

    def features(self, pixel_values):
        return self.vit(pixel_values)[:, 0, :]

    def forward(self, pixel_values):
        return self.classifier(self.features(pixel_values))


# --------------------------------------------------------------------------------------------
# ResNet (modeling_resnet.py)
# --------------------------------------------------------------------------------------------


class ResNetConvLayer(nn.Module):
    def __init__(self, cin, cout, kernel_size=3, stride=1, activation="relu"):
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, kernel_size=kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.normalization = nn.BatchNorm2d(cout)
        self.activation = Act(activation) if activation is not None else nn.Identity()

    def forward(self, x):
        return self.activation(self.normalization(self.convolution(x)))


class ResNetEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embedder = ResNetConvLayer(c.num_channels, c.embedding_size, kernel_size=7, stride=2, activation=c.hidden_act)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x):
        return self.pooler(self.embedder(x))


class ResNetShortCut(nn.Module):
    def __init__(self, cin, cout, stride=2):
        super().__init__()
        self.convolution = nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)
        self.normalization = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.normalization(self.convolution(x))


class ResNetBasicLayer(nn.Module):
    # Note: the inner ResNetConvLayer uses its default activation "relu", not config.hidden_act,
    # exactly as transformers does; only the layer's output activation follows hidden_act.
    def __init__(self, cin, cout, stride=1, activation="relu"):
        super().__init__()
        apply = cin != cout or stride != 1
        self.shortcut = ResNetShortCut(cin, cout, stride=stride) if apply else nn.Identity()
        self.layer = nn.Sequential(
            ResNetConvLayer(cin, cout, stride=stride),
            ResNetConvLayer(cout, cout, activation=None),
        )
        self.activation = Act(activation)

    def forward(self, x):
        return self.activation(self.layer(x) + self.shortcut(x))


class ResNetBottleNeckLayer(nn.Module):
    def __init__(self, cin, cout, stride=1, activation="relu", reduction=4, downsample_in_bottleneck=False):
        super().__init__()
        apply = cin != cout or stride != 1
        red = cout // reduction
        self.shortcut = ResNetShortCut(cin, cout, stride=stride) if apply else nn.Identity()
        self.layer = nn.Sequential(
            ResNetConvLayer(cin, red, kernel_size=1, stride=stride if downsample_in_bottleneck else 1),
            ResNetConvLayer(red, red, stride=stride if not downsample_in_bottleneck else 1),
            ResNetConvLayer(red, cout, kernel_size=1, activation=None),
        )
        self.activation = Act(activation)

    def forward(self, x):
        return self.activation(self.layer(x) + self.shortcut(x))


class ResNetStage(nn.Module):
    def __init__(self, c, cin, cout, stride=2, depth=2):
        super().__init__()
        if c.layer_type == "bottleneck":
            first = ResNetBottleNeckLayer(cin, cout, stride=stride, activation=c.hidden_act,
                                          downsample_in_bottleneck=c.downsample_in_bottleneck)
            rest = [ResNetBottleNeckLayer(cout, cout, activation=c.hidden_act) for _ in range(depth - 1)]
        else:
            first = ResNetBasicLayer(cin, cout, stride=stride, activation=c.hidden_act)
            rest = [ResNetBasicLayer(cout, cout, activation=c.hidden_act) for _ in range(depth - 1)]
        self.layers = nn.Sequential(first, *rest)

    def forward(self, x):
        return self.layers(x)


class ResNetEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.stages = nn.ModuleList([
            ResNetStage(c, c.embedding_size, c.hidden_sizes[0],
                        stride=2 if c.downsample_in_first_stage else 1, depth=c.depths[0])
        ])
        for (cin, cout), depth in zip(zip(c.hidden_sizes, c.hidden_sizes[1:]), c.depths[1:]):
            self.stages.append(ResNetStage(c, cin, cout, depth=depth))

    def forward(self, x):
        for s in self.stages:
            x = s(x)
        return x


class ResNetModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embedder = ResNetEmbeddings(c)
        self.encoder = ResNetEncoder(c)
        self.pooler = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        return self.pooler(self.encoder(self.embedder(x)))


class ResNetForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.resnet = ResNetModel(c)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c.hidden_sizes[-1], c.num_labels))

    def features(self, x):
        return self.classifier[0](self.resnet(x))

    def forward(self, x):
        return self.classifier(self.resnet(x))


ARCHITECTURES = {
    "ViTForImageClassification": ViTForImageClassification,
    "ResNetForImageClassification": ResNetForImageClassification,
}


def build_model(config_dict):
    c = Cfg(config_dict)
    return ARCHITECTURES[c.architecture](c)


def load_model(model_dir):
    """The checkpoint in `model_dir` as an eval-mode float32 module (weights upcast like
    transformers does when loading F16/BF16 into a float32 model)."""
    with open(os.path.join(model_dir, "config.json")) as f:
        model = build_model(json.load(f))
    state = read_safetensors(model_dir)
    own = model.state_dict()
    converted = {}
    for name, t in state.items():
        if name not in own:
            raise KeyError(f"unexpected tensor {name}")
        converted[name] = t.to(own[name].dtype)
    missing = set(own) - set(converted)
    if missing:
        raise KeyError(f"missing tensors {sorted(missing)[:5]}")
    model.load_state_dict(converted, strict=True)
    return model.eval()


# --------------------------------------------------------------------------------------------
# preprocessing: transformers' load_image + ViTImageProcessor / ConvNextImageProcessor (PIL path)
# --------------------------------------------------------------------------------------------


def processor_settings(d):
    """preprocessor_config.json -> dict of effective settings, with transformers' defaults."""
    kind = d.get("image_processor_type") or d.get("feature_extractor_type") or "ViTImageProcessor"
    convnext = kind.startswith("ConvNext")
    size = d.get("size")
    if convnext:
        if size is None:
            shortest = 384
        elif isinstance(size, int):
            shortest = size
        else:
            shortest = size["shortest_edge"]
        s = dict(kind="convnext", shortest_edge=shortest, crop_pct=d.get("crop_pct") or 224 / 256,
                 resample=d.get("resample", 2))
    else:
        if size is None:
            h = w = 224
        elif isinstance(size, int):
            h = w = size
        else:
            h, w = size["height"], size["width"]
        s = dict(kind="vit", height=h, width=w, resample=d.get("resample", 2))
    mean_default = [0.5, 0.5, 0.5] if not convnext else [0.485, 0.456, 0.406]
    std_default = [0.5, 0.5, 0.5] if not convnext else [0.229, 0.224, 0.225]
    s.update(
        do_resize=d.get("do_resize", True),
        do_rescale=d.get("do_rescale", True),
        rescale_factor=d.get("rescale_factor", 1 / 255),
        do_normalize=d.get("do_normalize", True),
        image_mean=d.get("image_mean", mean_default),
        image_std=d.get("image_std", std_default),
    )
    return s


def load_image(path):
    """transformers.image_utils.load_image: PIL open, exif_transpose, convert('RGB')."""
    from PIL import Image, ImageOps

    img = Image.open(path)
    img = ImageOps.exif_transpose(img)
    return img.convert("RGB")


def prepare_image(img, s):
    """The resized/cropped RGB uint8 array [H,W,3] the model sees."""
    if s["do_resize"]:
        if s["kind"] == "vit":
            img = img.resize((s["width"], s["height"]), resample=s["resample"], reducing_gap=None)
        else:
            shortest = s["shortest_edge"]
            if shortest < 384:
                target = int(shortest / s["crop_pct"])
                w, h = img.size
                short, long = (w, h) if w <= h else (h, w)
                new_short, new_long = target, int(target * long / short)
                new_h, new_w = (new_long, new_short) if w <= h else (new_short, new_long)
                img = img.resize((new_w, new_h), resample=s["resample"], reducing_gap=None)
                arr = np.array(img)
                top = (new_h - shortest) // 2
                left = (new_w - shortest) // 2
                return arr[top : top + shortest, left : left + shortest]
            img = img.resize((shortest, shortest), resample=s["resample"], reducing_gap=None)
    return np.array(img)


def to_pixel_values(arr, s):
    """rescale (float64 multiply, stored float32) then normalise in float32; CHW."""
    x = arr
    if s["do_rescale"]:
        x = (x.astype(np.float64) * s["rescale_factor"]).astype(np.float32)
    if s["do_normalize"]:
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        mean = np.array(s["image_mean"], dtype=x.dtype)
        std = np.array(s["image_std"], dtype=x.dtype)
        x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)


def preprocess_images(paths, proc_dict):
    s = processor_settings(proc_dict)
    return np.stack([to_pixel_values(prepare_image(load_image(p), s), s) for p in paths])


# --------------------------------------------------------------------------------------------
# postprocessing: transformers' ImageClassificationPipeline
# --------------------------------------------------------------------------------------------


def function_to_apply(cfg):
    if cfg.problem_type == "multi_label_classification" or cfg.num_labels == 1:
        return "sigmoid"
    if cfg.problem_type == "single_label_classification" or cfg.num_labels > 1:
        return "softmax"
    return "none"


def scores_of(logits_row, cfg):
    """Probabilities as the pipeline computes them (float32 in, float32 softmax/sigmoid)."""
    x = np.asarray(logits_row, dtype=np.float32)
    fn = function_to_apply(cfg)
    if fn == "sigmoid":
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)
    if fn == "softmax":
        m = np.max(x, axis=-1, keepdims=True)
        e = np.exp(x - m)
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    return x


def postprocess(logits_row, cfg, top_k=5):
    scores = scores_of(logits_row, cfg)
    top_k = min(top_k, cfg.num_labels)
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))[:top_k]
    return [{"label": cfg.id2label[i], "score": float(scores[i])} for i in order]


# --------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint directory")
    ap.add_argument("--pixels", help="pixel_values .npy [N,3,H,W] float32")
    ap.add_argument("--images", nargs="+", help="photos to preprocess here in Python")
    ap.add_argument("--pixels-out", help="write the Python-preprocessed pixel_values here")
    ap.add_argument("--out", help="write logits [N,num_labels] float32 .npy here")
    ap.add_argument("--probs", help="write softmax/sigmoid scores .npy here")
    ap.add_argument("--json", help="write per-image logits, scores and top-k predictions here")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    if args.images:
        with open(os.path.join(args.model, "preprocessor_config.json")) as f:
            pixels = preprocess_images(args.images, json.load(f))
        if args.pixels_out:
            np.save(args.pixels_out, pixels)
    elif args.pixels:
        pixels = np.load(args.pixels).astype(np.float32)
    else:
        ap.error("give --pixels or --images")
    if not (args.out or args.probs or args.json):
        return 0

    model = load_model(args.model)
    with torch.no_grad():
        logits = model(torch.from_numpy(pixels)).numpy().astype(np.float32)
    if args.out:
        np.save(args.out, logits)
    cfg = model.config
    if args.probs:
        np.save(args.probs, np.stack([scores_of(r, cfg) for r in logits]))
    if args.json:
        names = args.images or [f"#{i}" for i in range(len(logits))]
        records = [
            {
                "image": names[i],
                "logits": [float(v) for v in logits[i]],
                "scores": [float(v) for v in scores_of(logits[i], cfg)],
                "predictions": postprocess(logits[i], cfg, args.top_k),
            }
            for i in range(len(logits))
        ]
        with open(args.json, "w") as f:
            json.dump(records, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Writes a random-weight Hugging Face image-classification checkpoint directory.

The directory looks like one downloaded from the Hub: config.json as transformers'
save_pretrained writes it (ViTForImageClassification / ResNetForImageClassification),
preprocessor_config.json (the real hub files of google/vit-base-patch16-224 and
microsoft/resnet-50, or a ViT one for other image sizes), and model.safetensors with the tensor
names transformers uses — or shards plus model.safetensors.index.json.

Weights are random (seeded, deterministic) but chosen so the outputs mean something: every
parameter is non-trivial (biases, LayerNorm/BatchNorm affine terms), ResNet BatchNorm running
statistics are calibrated on real photos (../shared/data/photos) with a train-mode pass, and the
classifier is centred and scaled on the features of those photos (and colour-jittered copies) so
logits have a std of about 1.5:
softmax outputs are neither uniform nor saturated and differ from photo to photo.

Usage (run with Debian's interpreter, /usr/bin/python3; takes ~1 s for tiny presets, ~20-40 s for
the full-size ones):

  make_checkpoint.py --preset tiny-vit --out DIR
      [--dtype F32|F16|BF16|F64] [--shards N] [--hidden-act NAME] [--no-qkv-bias]
      [--num-labels N] [--problem-type single_label_classification|multi_label_classification]
      [--image-size N] [--downsample-in-bottleneck] [--downsample-in-first-stage]
      [--legacy-config] [--seed N] [--calib-photos N] [--report] [--config-only]

Presets:
  tiny-vit               ViT, hidden 48, 2 layers, 3 heads (odd), mlp 96, patch 16, image 64, 10 labels
  tiny-vit-224           the same at image 224 (the real vit-base preprocessor_config.json)
  tiny-resnet-basic      ResNet basic blocks, embedding 16, hidden [16,32,48,64], depths [2,1,2,1]
  tiny-resnet-bottleneck ResNet bottleneck, embedding 16, hidden [32,64,96,128], depths [2,2,1,2]
  finetune-2label        tiny ViT at 224 with labels {"0": "no bin", "1": "trash bin"}
  finetune-1label        tiny ResNet basic with a single label (pipeline uses sigmoid)
  multilabel             tiny ResNet bottleneck, 4 labels, problem_type multi_label_classification
  vit-base-patch16-224   google/vit-base-patch16-224 shapes, 1000 ImageNet labels
  vit-base-patch16-384   image 384 (processor size 384)
  resnet-18, resnet-50   microsoft/resnet-18 / resnet-50 shapes, 1000 ImageNet labels

--report prints per-photo max score and the top-1 labels of the calibration photos.
As a module: `make(preset, out_dir, **overrides)` returns the config dict.
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "data"))
TRANSFORMERS_VERSION = "4.36.2"

VIT_PROCESSOR_224 = {
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ViTFeatureExtractor",
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "size": 224,
}
RESNET_PROCESSOR = {
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ConvNextFeatureExtractor",
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "size": 224,
}


def vit_processor(image_size):
    if image_size == 224:
        return dict(VIT_PROCESSOR_224)
    # What save_pretrained writes for a modern ViTImageProcessor of another size.
    return {
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_processor_type": "ViTImageProcessor",
        "image_std": [0.5, 0.5, 0.5],
        "resample": 2,
        "rescale_factor": 0.00392156862745098,
        "size": {"height": image_size, "width": image_size},
    }


PRESETS = {
    "tiny-vit": dict(arch="vit", hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                     intermediate_size=96, image_size=64, patch_size=16, num_labels=10),
    "tiny-vit-224": dict(arch="vit", hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                         intermediate_size=96, image_size=224, patch_size=16, num_labels=10),
    "tiny-resnet-basic": dict(arch="resnet", embedding_size=16, hidden_sizes=[16, 32, 48, 64],
                              depths=[2, 1, 2, 1], layer_type="basic", num_labels=10),
    "tiny-resnet-bottleneck": dict(arch="resnet", embedding_size=16, hidden_sizes=[32, 64, 96, 128],
                                   depths=[2, 2, 1, 2], layer_type="bottleneck", num_labels=10),
    "finetune-2label": dict(arch="vit", hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                            intermediate_size=96, image_size=224, patch_size=16,
                            labels=["no bin", "trash bin"]),
    "finetune-1label": dict(arch="resnet", embedding_size=16, hidden_sizes=[16, 32, 48, 64],
                            depths=[1, 1, 1, 1], layer_type="basic", labels=["trash bin"]),
    "multilabel": dict(arch="resnet", embedding_size=16, hidden_sizes=[32, 64, 96, 128],
                       depths=[1, 1, 1, 1], layer_type="bottleneck",
                       labels=["bin", "bicycle", "car", "person"],
                       problem_type="multi_label_classification"),
    "vit-base-patch16-224": dict(arch="vit", hidden_size=768, num_hidden_layers=12,
                                 num_attention_heads=12, intermediate_size=3072, image_size=224,
                                 patch_size=16, imagenet=True),
    "vit-base-patch16-384": dict(arch="vit", hidden_size=768, num_hidden_layers=12,
                                 num_attention_heads=12, intermediate_size=3072, image_size=384,
                                 patch_size=16, imagenet=True),
    "resnet-18": dict(arch="resnet", embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                      depths=[2, 2, 2, 2], layer_type="basic", imagenet=True),
    "resnet-50": dict(arch="resnet", embedding_size=64, hidden_sizes=[256, 512, 1024, 2048],
                      depths=[3, 4, 6, 3], layer_type="bottleneck", imagenet=True),
}


def imagenet_labels():
    with open(os.path.join(SHARED, "imagenet-1k-labels.txt")) as f:
        labels = [line.rstrip("\n") for line in f]
    assert len(labels) == 1000
    return labels


def label_maps(labels):
    id2label = {str(i): l for i, l in enumerate(labels)}
    label2id = {l: i for i, l in enumerate(labels)}  # duplicates collapse, as on the Hub
    return id2label, label2id


def config_dict(p, legacy=False):
    """config.json content: transformers' save_pretrained output (use_diff=True: every
    model-specific key, base keys only when they differ from PretrainedConfig's defaults)."""
    if p.get("imagenet"):
        labels = imagenet_labels()
    elif "labels" in p:
        labels = p["labels"]
    else:
        labels = [f"class_{i}" for i in range(p["num_labels"])]
    if "num_labels" in p and len(labels) != p["num_labels"]:
        labels = [f"class_{i}" for i in range(p["num_labels"])]
    id2label, label2id = label_maps(labels)
    if p["arch"] == "vit":
        d = {
            "architectures": ["ViTForImageClassification"],
            "attention_probs_dropout_prob": 0.0,
            "encoder_stride": p["patch_size"],
            "hidden_act": p.get("hidden_act", "gelu"),
            "hidden_dropout_prob": 0.0,
            "hidden_size": p["hidden_size"],
            "id2label": id2label,
            "image_size": p["image_size"],
            "initializer_range": 0.02,
            "intermediate_size": p["intermediate_size"],
            "label2id": label2id,
            "layer_norm_eps": p.get("layer_norm_eps", 1e-12),
            "model_type": "vit",
            "num_attention_heads": p["num_attention_heads"],
            "num_channels": 3,
            "num_hidden_layers": p["num_hidden_layers"],
            "patch_size": p["patch_size"],
            "qkv_bias": p.get("qkv_bias", True),
            "torch_dtype": "float32",
            "transformers_version": TRANSFORMERS_VERSION,
        }
        if legacy:  # the 2020-era hub file: no encoder_stride / qkv_bias, defaults apply
            for k in ("encoder_stride", "qkv_bias", "torch_dtype", "initializer_range"):
                if k != "qkv_bias" or d[k]:
                    d.pop(k, None)
    else:
        n = len(p["hidden_sizes"])
        d = {
            "architectures": ["ResNetForImageClassification"],
            "depths": p["depths"],
            "downsample_in_bottleneck": p.get("downsample_in_bottleneck", False),
            "downsample_in_first_stage": p.get("downsample_in_first_stage", False),
            "embedding_size": p["embedding_size"],
            "hidden_act": p.get("hidden_act", "relu"),
            "hidden_sizes": p["hidden_sizes"],
            "id2label": id2label,
            "label2id": label2id,
            "layer_type": p["layer_type"],
            "model_type": "resnet",
            "num_channels": 3,
            "out_features": [f"stage{n}"],
            "out_indices": [n],
            "stage_names": ["stem"] + [f"stage{i + 1}" for i in range(n)],
            "torch_dtype": "float32",
            "transformers_version": TRANSFORMERS_VERSION,
        }
        if legacy:  # microsoft/resnet-50 as published (transformers 4.18)
            for k in ("out_features", "out_indices", "stage_names"):
                d.pop(k)
            if not d["downsample_in_bottleneck"]:
                d.pop("downsample_in_bottleneck")
            d["transformers_version"] = "4.18.0.dev0"
    if p.get("problem_type"):
        d["problem_type"] = p["problem_type"]
    return dict(sorted(d.items()))


def processor_dict(p):
    return vit_processor(p["image_size"]) if p["arch"] == "vit" else dict(RESNET_PROCESSOR)


# ------------------------------------------------------------------------------------------------
# weights
# ------------------------------------------------------------------------------------------------


def init_weights(model, gen):
    """Random, non-trivial values for every parameter (fan-in scaled so signals stay O(1))."""

    def normal(t, std, mean=0.0):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            normal(mod.weight, 1.0 / np.sqrt(mod.in_features))
            if mod.bias is not None:
                normal(mod.bias, 0.05)
        elif isinstance(mod, torch.nn.Conv2d):
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            normal(mod.weight, np.sqrt(2.0 / fan_in))
            if mod.bias is not None:
                normal(mod.bias, 0.05)
        elif isinstance(mod, torch.nn.LayerNorm):
            normal(mod.weight, 0.1, 1.0)
            normal(mod.bias, 0.05)
        elif isinstance(mod, torch.nn.BatchNorm2d):
            with torch.no_grad():
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=gen) * 0.8 + 0.6)
            normal(mod.bias, 0.2)
    if isinstance(model, ref.ResNetForImageClassification):
        # The last BatchNorm of each residual branch gets a small scale, as trained ResNets have
        # (cf. zero-init-residual): the identity path dominates, so activations of photos
        # unlike the calibration ones do not explode over 16 blocks.
        for mod in model.modules():
            if isinstance(mod, (ref.ResNetBasicLayer, ref.ResNetBottleNeckLayer)):
                last_bn = mod.layer[-1].normalization
                with torch.no_grad():
                    last_bn.weight.copy_(torch.rand(last_bn.weight.shape, generator=gen) * 0.3 + 0.2)
    if isinstance(model, ref.ViTForImageClassification):
        emb = model.vit.embeddings
        normal(emb.cls_token, 0.3)
        normal(emb.position_embeddings, 0.3)


def calibration_photos(count):
    root = os.path.join(SHARED, "photos")
    paths = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.lower().endswith((".jpg", ".jpeg")):
                paths.append(os.path.join(dirpath, f))
    paths.sort()
    if not paths or count <= 0:
        return []
    # Evenly spread over the sorted list, first and last included, so every folder (street, bike,
    # the indoor COCO photo) is represented.
    if count >= len(paths):
        return paths
    return [paths[round(i * (len(paths) - 1) / (count - 1))] for i in range(count)] if count > 1 else paths[:1]


def calibration_pixels(proc, count, gen):
    """Approximately preprocessed photos (JPEG draft decoding for speed: calibration only needs
    realistic statistics, not transformers-exact pixels); noise when no photos are available."""
    from PIL import Image

    s = ref.processor_settings(proc)
    side = s["height"] if s["kind"] == "vit" else s["shortest_edge"]
    out = []
    for path in calibration_photos(count):
        img = Image.open(path)
        img.draft("RGB", (side * 2, side * 2))
        img = img.convert("RGB").resize((side, side), Image.BILINEAR)
        arr = np.asarray(img).astype(np.float32) / 255.0
        arr = (arr - np.array(s["image_mean"], np.float32)) / np.array(s["image_std"], np.float32)
        out.append(arr.transpose(2, 0, 1))
    if not out:
        return torch.randn((count or 8, 3, side, side), generator=gen)
    return torch.from_numpy(np.stack(out))


def calibrate_batchnorm(model, pixels):
    """BatchNorm running statistics = statistics of the calibration batch, layer by layer (a
    train-mode pass normalises each layer with the batch statistics its input really has)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    with torch.no_grad():
        model(pixels)
        # Channels nearly constant on the calibration photos would divide a different photo's
        # deviation by a tiny std and blow it up layer after layer; a variance floor (a share
        # of the layer's median) keeps unseen photos in range.
        for bn in bns:
            bn.running_var.add_(bn.running_var.median())
    model.eval()


def calibrate_classifier(model, pixels, gen, target_std):
    """Centre the classifier on the calibration features and scale it so the logits vary between
    photos with std `target_std` (otherwise logits of random weights are near-constant)."""
    linear = model.classifier if isinstance(model.classifier, torch.nn.Linear) else model.classifier[1]
    # Colour-jittered copies widen the feature spread along "global colour" directions: street
    # photos agree there, an indoor photo does not, and would otherwise get huge logits.
    n = pixels.shape[0]
    gain = torch.rand((n, 3, 1, 1), generator=gen) * 0.6 + 0.7
    shift = torch.randn((n, 3, 1, 1), generator=gen) * 0.3
    pixels = torch.cat([pixels, pixels * gain + shift])
    with torch.no_grad():
        feats = model.features(pixels).double()
        mean = feats.mean(0)
        centred = feats - mean
        w = linear.weight.double()
        z = centred @ w.T
        scale = target_std / max(float(z.std()), 1e-12)
        w = w * scale
        bias = -(w @ mean) + torch.randn(w.shape[0], generator=gen).double() * 0.2 * target_std
        linear.weight.copy_(w.float())
        linear.bias.copy_(bias.float())


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------

TORCH_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def state_tensors(model, dtype, with_num_batches_tracked=True):
    out = {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            if with_num_batches_tracked:
                out[name] = torch.tensor(0, dtype=torch.int64)  # a scalar, as transformers saves it
            continue
        out[name] = t.detach().to(TORCH_DTYPES[dtype]).contiguous()
    return out


def write_weights(out_dir, tensors, shards):
    if shards <= 1:
        ref.write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
        return
    names = list(tensors)  # module order, as save_pretrained's sharding walks the state dict
    sizes = [tensors[n].numel() * tensors[n].element_size() for n in names]
    total = sum(sizes)
    groups = [[] for _ in range(shards)]
    acc = 0
    for n, s in zip(names, sizes):
        idx = min(shards - 1, int(acc * shards // max(total, 1)))
        groups[idx].append(n)
        acc += s
    groups = [g for g in groups if g]
    weight_map = {}
    for i, g in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        ref.write_safetensors(os.path.join(out_dir, fname), {n: tensors[n] for n in g})
        for n in g:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def write_json_files(out_dir, cfg, proc):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(proc, f, indent=2)
        f.write("\n")


def plant_red_evidence(model, label=3):
    """A ResNet whose only evidence for class `label` is red in the picture, wherever it is: the
    stem's first channel measures redness (R - (G + B) / 2 of the normalised pixels, at the
    kernel's centre), every residual block passes its input on unchanged (its convolutions are
    zero, projection shortcuts keep channel 0, BatchNorm is the identity), and the classifier reads
    the pooled channel 0. Mid grey is not red (its redness is below zero, cut by the ReLU), so
    covering a red spot with grey takes the evidence away: the occlusion map must peak there."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var") or (name.endswith("normalization.weight")):
                t.fill_(1.0)
            else:
                t.zero_()
            if name == "resnet.embedder.embedder.convolution.weight":
                t[0, :, t.shape[2] // 2, t.shape[3] // 2] = torch.tensor([1.0, -0.5, -0.5])
            elif name.endswith("shortcut.convolution.weight"):
                t[0, 0, 0, 0] = 1.0
            elif name.startswith("classifier") and name.endswith("weight"):
                t[label, 0] = 20.0


def make(preset, out_dir, dtype="F32", shards=1, seed=0, calib_photos=None, legacy=False, report=False,
         config_only=False, red_evidence=False, **overrides):
    p = copy.deepcopy(PRESETS[preset])
    for k, v in overrides.items():
        if v is not None:
            p[k] = v
    if "num_labels" in overrides and overrides["num_labels"] is not None:
        p.pop("labels", None)
        p.pop("imagenet", None)
    cfg = config_dict(p, legacy=legacy)
    proc = processor_dict(p)
    if config_only:
        write_json_files(out_dir, cfg, proc)
        return cfg
    gen = torch.Generator().manual_seed(seed)
    model = ref.build_model(cfg)
    init_weights(model, gen)
    if calib_photos is None:
        calib_photos = 16 if p["arch"] == "resnet" else 8
    pixels = calibration_pixels(proc, calib_photos, gen)
    if red_evidence:
        if p["arch"] != "resnet":
            raise SystemExit("--red-evidence is for ResNet presets")
        plant_red_evidence(model)
        model.eval()
    else:
        if p["arch"] == "resnet":
            calibrate_batchnorm(model, pixels)
        model.eval()
        calibrate_classifier(model, pixels, gen, target_std=1.5)

    write_json_files(out_dir, cfg, proc)
    write_weights(out_dir, state_tensors(model, dtype), shards)

    if report:
        with torch.no_grad():
            logits = model(pixels).numpy()
        c = model.config
        for row in logits:
            sc = ref.scores_of(row, c)
            top = int(np.argmax(sc))
            print(f"max score {sc.max():.4f}  logit std {row.std():.3f}  top-1 {c.id2label[top]!r}")
    return cfg


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="F32", choices=sorted(TORCH_DTYPES))
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden-act")
    ap.add_argument("--no-qkv-bias", action="store_true")
    ap.add_argument("--num-labels", type=int)
    ap.add_argument("--problem-type")
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--layer-norm-eps", type=float)
    ap.add_argument("--downsample-in-bottleneck", action="store_true")
    ap.add_argument("--downsample-in-first-stage", action="store_true")
    ap.add_argument("--legacy-config", action="store_true")
    ap.add_argument("--calib-photos", type=int, help="photos for calibration (default 16 ResNet, 8 ViT)")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--config-only", action="store_true", help="write only the two JSON files")
    ap.add_argument("--red-evidence", action="store_true",
                    help="ResNet: class 3 sees red and nothing else (plant_red_evidence)")
    a = ap.parse_args(argv)
    make(
        a.preset, a.out, dtype=a.dtype, shards=a.shards, seed=a.seed, calib_photos=a.calib_photos,
        legacy=a.legacy_config, report=a.report, config_only=a.config_only,
        red_evidence=a.red_evidence,
        hidden_act=a.hidden_act, qkv_bias=False if a.no_qkv_bias else None,
        num_labels=a.num_labels, problem_type=a.problem_type, image_size=a.image_size,
        layer_norm_eps=a.layer_norm_eps,
        downsample_in_bottleneck=True if a.downsample_in_bottleneck else None,
        downsample_in_first_stage=True if a.downsample_in_first_stage else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A PyTorch mirror of transformers' modeling_clip.py (CLIPModel, eval mode, eager attention) and
CLIPImageProcessor, plus a writer of random-weight CLIP checkpoints in the Hub's layout, for the
CLIP parity tests (transformers itself is not installed).

  clip_reference.py make --preset tiny|vit-b-32 --out DIR [--legacy-config] [--seed N]
      config.json as save_pretrained writes a CLIPModel's (--legacy-config: the old form with
      eos_token_id 2 and text_config_dict / vision_config_dict), openai/clip-vit-base-patch32's
      preprocessor_config.json, model.safetensors with transformers' tensor names, and a
      tokenizer (vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json) trained
      by clip_tokenizer_reference.py on Debian's license texts.
  clip_reference.py run --model DIR --images A.jpg ... --labels L.json [--template T]
      [--pixels X.npy] --out-dir OUT
      the zero-shot pipeline: pixels.npy (CLIPImageProcessor on the photos, or --pixels),
      input_ids.json (the texts tokenized as the pipeline's AutoTokenizer does, by the fast
      tokenizer of clip_tokenizer_reference.py, padded to the longest, truncated to the context
      length),
      image_embeds.npy, text_embeds.npy, logits.npy (logits_per_image), probs.npy (softmax over
      the labels) in float32, and the same computed in float64 as *64.npy.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clip_tokenizer_reference as tokref  # noqa: E402
import torch_reference as ref  # noqa: E402

CLIP_PROCESSOR = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "resample": 3,
    "size": 224,
}

PRESETS = {
    "tiny": dict(projection_dim=24, logit_scale=10.0,
                 text=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=3, max_position_embeddings=77),
                 vision=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                             num_attention_heads=3, image_size=224, patch_size=32)),
    "vit-b-32": dict(projection_dim=512, vocab_size=49408, logit_scale=100.0,
                     text=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                               num_attention_heads=8, max_position_embeddings=77),
                     vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                 num_attention_heads=12, image_size=224, patch_size=32)),
}


# --- modeling_clip.py ------------------------------------------------------------------------

class CLIPAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.scale = self.head_dim ** -0.5
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.q_proj = nn.Linear(hidden, hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def _shape(self, t, seq, bsz):
        return t.view(bsz, seq, self.heads, self.head_dim).transpose(1, 2).contiguous()

    def forward(self, x, attention_mask=None, causal_mask=None):
        bsz, tgt, hidden = x.size()
        q = self.q_proj(x) * self.scale
        k = self._shape(self.k_proj(x), -1, bsz)
        v = self._shape(self.v_proj(x), -1, bsz)
        shape = (bsz * self.heads, -1, self.head_dim)
        q = self._shape(q, tgt, bsz).view(*shape)
        k = k.view(*shape)
        v = v.view(*shape)
        w = torch.bmm(q, k.transpose(1, 2))
        src = k.size(1)
        if causal_mask is not None:
            w = (w.view(bsz, self.heads, tgt, src) + causal_mask).view(bsz * self.heads, tgt, src)
        if attention_mask is not None:
            w = (w.view(bsz, self.heads, tgt, src) + attention_mask).view(bsz * self.heads, tgt,
                                                                           src)
        w = nn.functional.softmax(w, dim=-1)
        out = torch.bmm(w, v).view(bsz, self.heads, tgt, self.head_dim).transpose(1, 2)
        return self.out_proj(out.reshape(bsz, tgt, hidden))


class CLIPMLP(nn.Module):
    def __init__(self, hidden, inter, act):
        super().__init__()
        self.act = ref.activation(act)
        self.fc1 = nn.Linear(hidden, inter)
        self.fc2 = nn.Linear(inter, hidden)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = CLIPAttention(c["hidden_size"], c["num_attention_heads"])
        self.layer_norm1 = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.mlp = CLIPMLP(c["hidden_size"], c["intermediate_size"], c["hidden_act"])
        self.layer_norm2 = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x, attention_mask=None, causal_mask=None):
        x = x + self.self_attn(self.layer_norm1(x), attention_mask, causal_mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, attention_mask=None, causal_mask=None):
        for layer in self.layers:
            x = layer(x, attention_mask, causal_mask)
        return x


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])

    def forward(self, ids):
        pos = torch.arange(ids.shape[-1])[None]
        return self.token_embedding(ids) + self.position_embedding(pos)


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.eos_token_id = c["eos_token_id"]
        self.embeddings = CLIPTextEmbeddings(c)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids, attention_mask):
        x = self.embeddings(ids)
        bsz, seq = ids.shape
        dtype = x.dtype
        lowest = torch.finfo(dtype).min
        # _create_4d_causal_attention_mask and _prepare_4d_attention_mask
        causal = torch.full((seq, seq), lowest, dtype=dtype).triu(1)[None, None].expand(bsz, 1,
                                                                                      seq, seq)
        inverted = 1.0 - attention_mask[:, None, None, :].expand(bsz, 1, seq, seq).to(dtype)
        mask = inverted.masked_fill(inverted.to(torch.bool), lowest)
        x = self.final_layer_norm(self.encoder(x, mask, causal))
        if self.eos_token_id == 2:
            pos = ids.to(torch.int).argmax(dim=-1)
        else:
            pos = (ids.to(torch.int) == self.eos_token_id).int().argmax(dim=-1)
        return x[torch.arange(bsz), pos]


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, p = c["hidden_size"], c["patch_size"]
        self.class_embedding = nn.Parameter(torch.randn(h))
        self.patch_embedding = nn.Conv2d(c["num_channels"], h, kernel_size=p, stride=p, bias=False)
        n = (c["image_size"] // p) ** 2 + 1
        self.position_embedding = nn.Embedding(n, h)

    def forward(self, pixels):
        b = pixels.shape[0]
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype))
        patches = patches.flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(b, 1, -1)
        x = torch.cat([cls, patches], dim=1)
        return x + self.position_embedding(torch.arange(x.shape[1])[None])


class CLIPVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.encoder = CLIPEncoder(c)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, pixels):
        x = self.encoder(self.pre_layrnorm(self.embeddings(pixels)))
        return self.post_layernorm(x[:, 0, :])


TEXT_DEFAULTS = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048,
                     num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77,
                     hidden_act="quick_gelu", layer_norm_eps=1e-5, eos_token_id=49407)
VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                       num_attention_heads=12, num_channels=3, image_size=224, patch_size=32,
                       hidden_act="quick_gelu", layer_norm_eps=1e-5)


def tower(cfg, key, defaults):
    c = dict(defaults)
    for k in (key, key + "_dict"):
        if cfg.get(k):
            c.update({n: v for n, v in cfg[k].items() if n in defaults})
    return c


class CLIPModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = tower(cfg, "text_config", TEXT_DEFAULTS)
        v = tower(cfg, "vision_config", VISION_DEFAULTS)
        p = cfg.get("projection_dim", 512)
        self.text_model = CLIPTextTransformer(t)
        self.vision_model = CLIPVisionTransformer(v)
        self.visual_projection = nn.Linear(v["hidden_size"], p, bias=False)
        self.text_projection = nn.Linear(t["hidden_size"], p, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(cfg.get("logit_scale_init_value", 2.6592)))

    def forward(self, pixels, ids, attention_mask):
        image = self.visual_projection(self.vision_model(pixels))
        text = self.text_projection(self.text_model(ids, attention_mask))
        image_n = image / image.norm(p=2, dim=-1, keepdim=True)
        text_n = text / text.norm(p=2, dim=-1, keepdim=True)
        logits_per_text = torch.matmul(text_n, image_n.t()) * self.logit_scale.exp()
        return image, text, logits_per_text.t()


# --- CLIPImageProcessor ----------------------------------------------------------------------

def preprocess(path, proc):
    img = ref.load_image(path)
    size = proc.get("size", {"shortest_edge": 224})
    short = size if isinstance(size, int) else size["shortest_edge"]
    crop = proc.get("crop_size", {"height": 224, "width": 224})
    ch, cw = (crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"])
    if proc.get("do_resize", True):
        w, h = img.size
        s, l = (w, h) if w <= h else (h, w)
        new_s, new_l = short, int(short * l / s)
        nh, nw = (new_l, new_s) if w <= h else (new_s, new_l)
        img = img.resize((nw, nh), resample=proc.get("resample", 3), reducing_gap=None)
    arr = np.array(img)
    if proc.get("do_center_crop", True):
        top, left = (arr.shape[0] - ch) // 2, (arr.shape[1] - cw) // 2
        assert top >= 0 and left >= 0
        arr = arr[top:top + ch, left:left + cw]
    s = dict(do_rescale=proc.get("do_rescale", True),
             rescale_factor=proc.get("rescale_factor", 1 / 255),
             do_normalize=proc.get("do_normalize", True),
             image_mean=proc.get("image_mean", CLIP_PROCESSOR["image_mean"]),
             image_std=proc.get("image_std", CLIP_PROCESSOR["image_std"]))
    return ref.to_pixel_values(arr, s)


# --- checkpoints -----------------------------------------------------------------------------

def make(preset, out, legacy=False, seed=0):
    p = PRESETS[preset]
    os.makedirs(out, exist_ok=True)
    # a tokenizer trained on the license texts (fewer merges than CLIP's: the test vocabulary)
    rng_texts = [tokref.random_string(__import__("random").Random(seed + i)) for i in range(500)]
    texts = []
    for name in sorted(os.listdir("/usr/share/common-licenses")):
        path = os.path.join("/usr/share/common-licenses", name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
    tokref.write_model(out, tokref.train(texts + rng_texts, 800))
    os.remove(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "vocab.json"), encoding="utf-8") as f:
        n_vocab = len(json.load(f))
    special = {"bos_token": tokref.BOS, "eos_token": tokref.EOS, "pad_token": tokref.EOS,
               "unk_token": tokref.EOS}
    with open(os.path.join(out, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(dict(special, model_max_length=77, tokenizer_class="CLIPTokenizer",
                       do_lower_case=True, errors="replace"), f, indent=2)

    text = dict(p["text"], vocab_size=p.get("vocab_size", n_vocab), hidden_act="quick_gelu",
                layer_norm_eps=1e-5, model_type="clip_text_model", projection_dim=p["projection_dim"])
    vision = dict(p["vision"], num_channels=3, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                  model_type="clip_vision_model", projection_dim=p["projection_dim"])
    if legacy:  # the old form: eos 2 (argmax pooling), the *_config_dict overlays
        text.update(bos_token_id=0, eos_token_id=2, pad_token_id=1)
    else:
        text.update(bos_token_id=n_vocab - 2, eos_token_id=n_vocab - 1, pad_token_id=1)
    cfg = {"architectures": ["CLIPModel"], "initializer_factor": 1.0,
           "logit_scale_init_value": 2.6592, "model_type": "clip",
           "projection_dim": p["projection_dim"], "text_config": text, "vision_config": vision,
           "torch_dtype": "float32", "transformers_version": "4.36.2"}
    if legacy:
        cfg["text_config_dict"] = {k: text[k] for k in ("hidden_size", "intermediate_size",
                                                        "num_attention_heads", "num_hidden_layers")}
        cfg["vision_config_dict"] = {k: vision[k] for k in ("hidden_size", "intermediate_size",
                                                            "num_attention_heads", "patch_size")}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(CLIP_PROCESSOR, f, indent=2)

    model = CLIPModel(cfg)
    gen = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    for mod in model.modules():
        if isinstance(mod, nn.Linear):
            normal(mod.weight, 1.0 / math.sqrt(mod.in_features))
            if mod.bias is not None:
                normal(mod.bias, 0.05)
        elif isinstance(mod, nn.Conv2d):
            normal(mod.weight, 1.0 / math.sqrt(mod.in_channels * mod.kernel_size[0] ** 2))
        elif isinstance(mod, nn.LayerNorm):
            normal(mod.weight, 0.1, 1.0)
            normal(mod.bias, 0.05)
        elif isinstance(mod, nn.Embedding):
            normal(mod.weight, 0.5)
    normal(model.vision_model.embeddings.class_embedding, 0.5)
    with torch.no_grad():
        # trained CLIPs sit at the clamp, 100; the tiny model's wider similarities want less
        model.logit_scale.fill_(math.log(p["logit_scale"]))
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    ref.write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    return cfg


def run(a):
    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(a.model, "preprocessor_config.json")) as f:
        proc = json.load(f)
    model = CLIPModel(cfg)
    state = ref.read_safetensors(a.model)
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in state.items()})
    model.eval()
    if a.pixels:
        pixels = np.load(a.pixels).astype(np.float32)
    else:
        pixels = np.stack([preprocess(p, proc) for p in a.images])
    with open(a.labels, encoding="utf-8") as f:
        labels = json.load(f)
    tok = tokref.Tokenizer(a.model)
    ctx = tower(cfg, "text_config", TEXT_DEFAULTS)["max_position_embeddings"]
    seqs = [tok.encode(a.template.format(l), ctx) for l in labels]
    longest = max(len(s) for s in seqs)
    ids = [s + [tok.encoder[tokref.EOS]] * (longest - len(s)) for s in seqs]
    mask = [[1] * len(s) + [0] * (longest - len(s)) for s in seqs]
    np.save(os.path.join(a.out_dir, "pixels.npy"), pixels)
    with open(os.path.join(a.out_dir, "input_ids.json"), "w") as f:
        json.dump({"input_ids": ids, "attention_mask": mask}, f)
    for suffix, dtype in (("", torch.float32), ("64", torch.float64)):
        m = model.to(dtype)
        with torch.no_grad():
            image, text, logits = m(torch.from_numpy(pixels).to(dtype), torch.tensor(ids),
                                    torch.tensor(mask))
            probs = logits.softmax(dim=-1)
        for name, t in (("image_embeds", image), ("text_embeds", text), ("logits", logits),
                        ("probs", probs)):
            np.save(os.path.join(a.out_dir, name + suffix + ".npy"),
                    np.ascontiguousarray(t.numpy().astype(np.float32)))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--preset", required=True, choices=sorted(PRESETS))
    m.add_argument("--out", required=True)
    m.add_argument("--legacy-config", action="store_true")
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--images", nargs="*", default=[])
    r.add_argument("--pixels")
    r.add_argument("--labels", required=True)
    r.add_argument("--template", default="This is a photo of {}.")
    r.add_argument("--out-dir", required=True)
    a = ap.parse_args(argv)
    if a.cmd == "make":
        make(a.preset, a.out, a.legacy_config, a.seed)
        return 0
    return run(a)


if __name__ == "__main__":
    sys.exit(main())

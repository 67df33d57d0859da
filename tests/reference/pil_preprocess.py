#!/usr/bin/python3
"""Reference for binscan's preprocessing: Pillow 9.4 + numpy, reproducing what transformers'
PIL-based ViTImageProcessor / ConvNextImageProcessor do (transformers itself is not installed).

Usage: pil_preprocess.py JOBS.json
JOBS.json is {"jobs": [...]}; each job is one of
  {"op": "resize", "raw": IN, "width": W, "height": H, "orientation": 1..8 (optional),
   "out_width": OW, "out_height": OH, "filter": 0..5, "out": OUT}
      raw RGB in -> exif-style transpose -> Image.resize((OW, OH), filter, reducing_gap=None) -> raw
  {"op": "preprocess", "config": preprocessor_config.json,
   "image": FILE | ("raw": IN, "width": W, "height": H, "orientation": O),
   "npy": OUT.npy, "prepared": OUT.rgb, "crop": [X, Y, W, H] (optional)}
      load like transformers.image_utils.load_image (open, exif_transpose, convert RGB), then the
      processor's preprocess(); writes pixel_values [1,3,H,W] float32 and the uint8 HWC image the
      model sees (after resize/crop, before rescale). "crop" first cuts that box out of the
      loaded photo (Image.crop), as binscan's --tiles does.
  {"op": "crop", "image": FILE, "box": [X, Y, W, H], "out": OUT.png}
      the photo loaded as above, Image.crop to the box, saved as PNG (a tile saved as a file).
  {"op": "decode", "image": FILE, "out": OUT.rgb, "transpose": true|false}
      the file as RGB (convert("RGB")), exif-transposed or as stored; the result also gives the
      EXIF orientation.
  {"op": "make_jpeg", "out": OUT.jpg, "mode": "RGB" | "L" | "CMYK", "width": W, "height": H,
   "subsampling": 0 | 1 | 2, "progressive": true|false, "seed": N}
      writes a JPEG of a smooth pattern with noise (Pillow's encoder, quality 90).
Both "preprocess" (with "image") and "decode" take "draft": [W, H] (stored orientation): the JPEG
is first reduced with Image.draft("RGB", (W, H)), libjpeg's DCT scaling by 1/s for the largest s
of 8, 4, 2, 1 with s <= min(stored width // W, stored height // H) -- the independent reference
for binscan's --fast-decode.
"""
import json
import math
import sys

import numpy as np
from PIL import Image, ImageOps

TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # PIL.ImageOps.exif_transpose's table

IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]


def load_raw(job):
    with open(job["raw"], "rb") as f:
        data = f.read()
    im = Image.frombytes("RGB", (job["width"], job["height"]), data)
    method = TRANSPOSE.get(job.get("orientation", 1))
    return im.transpose(method) if method is not None else im


def load_image(path, draft=None):
    # transformers.image_utils.load_image (with an optional draft() first)
    im = Image.open(path)
    if draft is not None:
        im.draft("RGB", tuple(draft))
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


# --- transformers, reduced to what the two processors do -------------------------------------

def get_size_dict(size, default_to_square):
    if isinstance(size, dict):
        return size
    if isinstance(size, int):
        return {"height": size, "width": size} if default_to_square else {"shortest_edge": size}
    if isinstance(size, (list, tuple)):
        return {"height": size[0], "width": size[1]}
    raise ValueError(size)


def processor_from_config(cfg):
    name = cfg.get("image_processor_type") or cfg.get("feature_extractor_type")
    name = name.replace("FeatureExtractor", "ImageProcessor")
    if name.endswith("Fast"):
        name = name[:-4]
    p = {
        "do_resize": cfg.get("do_resize", True),
        "do_rescale": cfg.get("do_rescale", True),
        "rescale_factor": cfg.get("rescale_factor", 1 / 255),
        "do_normalize": cfg.get("do_normalize", True),
        "image_mean": cfg.get("image_mean") if cfg.get("image_mean") is not None else IMAGENET_STANDARD_MEAN,
        "image_std": cfg.get("image_std") if cfg.get("image_std") is not None else IMAGENET_STANDARD_STD,
    }
    size = cfg.get("size")
    if name == "ViTImageProcessor":
        p["kind"] = "vit"
        p["size"] = get_size_dict(size if size is not None else {"height": 224, "width": 224}, True)
        p["resample"] = cfg.get("resample", Image.Resampling.BILINEAR)
    elif name == "ConvNextImageProcessor":
        p["kind"] = "convnext"
        p["size"] = get_size_dict(size if size is not None else {"shortest_edge": 384}, False)
        crop_pct = cfg.get("crop_pct")
        p["crop_pct"] = crop_pct if crop_pct is not None else 224 / 256
        p["resample"] = cfg.get("resample", Image.Resampling.BICUBIC)
    else:
        raise ValueError(name)
    return p


def pil_resize(im, height, width, resample):
    # image_transforms.resize: PIL, (width, height), reducing_gap=None
    return im.resize((width, height), resample=resample, reducing_gap=None)


def get_resize_output_image_size(height, width, size):
    # default_to_square=False, max_size=None
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop(image, size):
    # image_transforms.center_crop on an HWC array (transformers works in CHW; same slicing).
    orig_height, orig_width = image.shape[:2]
    crop_height, crop_width = size
    top = (orig_height - crop_height) // 2
    bottom = top + crop_height
    left = (orig_width - crop_width) // 2
    right = left + crop_width
    if top >= 0 and bottom <= orig_height and left >= 0 and right <= orig_width:
        return image[top:bottom, left:right]
    new_height = max(crop_height, orig_height)
    new_width = max(crop_width, orig_width)
    new_image = np.zeros((new_height, new_width) + image.shape[2:], dtype=image.dtype)
    top_pad = math.ceil((new_height - orig_height) / 2)
    bottom_pad = top_pad + orig_height
    left_pad = math.ceil((new_width - orig_width) / 2)
    right_pad = left_pad + orig_width
    new_image[top_pad:bottom_pad, left_pad:right_pad] = image
    top += top_pad
    bottom += top_pad
    left += left_pad
    right += left_pad
    return new_image[max(0, top):min(new_height, bottom), max(0, left):min(new_width, right)]


def prepare(im, p):
    if not p["do_resize"]:
        return np.array(im)
    if p["kind"] == "vit":
        s = p["size"]
        return np.array(pil_resize(im, s["height"], s["width"], p["resample"]))
    shortest_edge = p["size"]["shortest_edge"]
    if shortest_edge < 384:
        resize_shortest_edge = int(shortest_edge / p["crop_pct"])
        h, w = get_resize_output_image_size(im.height, im.width, resize_shortest_edge)
        resized = np.array(pil_resize(im, h, w, p["resample"]))
        return center_crop(resized, (shortest_edge, shortest_edge))
    return np.array(pil_resize(im, shortest_edge, shortest_edge, p["resample"]))


def rescale(image, scale):
    return (image.astype(np.float64) * scale).astype(np.float32)


def normalize(image, mean, std):
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    if not isinstance(mean, (list, tuple)):
        mean = [mean] * 3
    if not isinstance(std, (list, tuple)):
        std = [std] * 3
    mean = np.array(mean, dtype=image.dtype)
    std = np.array(std, dtype=image.dtype)
    return (image - mean) / std


def pixel_values(prepared, p):
    image = prepared
    if p["do_rescale"]:
        image = rescale(image, p["rescale_factor"])
    if p["do_normalize"]:
        image = normalize(image, p["image_mean"], p["image_std"])
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None]).astype(np.float32)


def main():
    with open(sys.argv[1]) as f:
        jobs = json.load(f)["jobs"]
    results = []
    for job in jobs:
        if job["op"] == "resize":
            im = load_raw(job)
            out = im.resize((job["out_width"], job["out_height"]), job["filter"], reducing_gap=None)
            with open(job["out"], "wb") as f:
                f.write(out.tobytes())
            results.append({"width": out.width, "height": out.height})
        elif job["op"] == "preprocess":
            with open(job["config"]) as f:
                p = processor_from_config(json.load(f))
            im = load_image(job["image"], job.get("draft")) if "image" in job else load_raw(job)
            if "crop" in job:  # a tile: Image.crop of the photo as displayed
                x, y, w, h = job["crop"]
                im = im.crop((x, y, x + w, y + h))
            prepared = np.ascontiguousarray(prepare(im, p))
            np.save(job["npy"], pixel_values(prepared, p))
            if "prepared" in job:
                with open(job["prepared"], "wb") as f:
                    f.write(prepared.tobytes())
            results.append({"width": prepared.shape[1], "height": prepared.shape[0]})
        elif job["op"] == "make_jpeg":
            rng = np.random.default_rng(job.get("seed", 0))
            h, w = job["height"], job["width"]
            y, x = np.mgrid[0:h, 0:w]
            channels = {"L": 1, "RGB": 3, "CMYK": 4}[job["mode"]]
            planes = [(x * (c + 1) * 255 // max(1, w) + y * 255 // max(1, h) * (c % 2)) % 256
                      for c in range(channels)]
            arr = np.stack(planes, axis=-1).astype(np.int32) + rng.integers(-20, 21, (h, w, channels))
            arr = np.clip(arr, 0, 255).astype(np.uint8)
            im = Image.fromarray(arr[..., 0] if channels == 1 else arr, job["mode"])
            kwargs = {"quality": 90, "progressive": job.get("progressive", False)}
            if job["mode"] == "RGB":
                kwargs["subsampling"] = job.get("subsampling", 2)
            im.save(job["out"], "JPEG", **kwargs)
            results.append({"width": w, "height": h})
        elif job["op"] == "crop":
            im = load_image(job["image"])
            x, y, w, h = job["box"]
            im.crop((x, y, x + w, y + h)).save(job["out"], "PNG")
            results.append({"width": w, "height": h})
        elif job["op"] == "decode":
            im = Image.open(job["image"])
            if "draft" in job:
                im.draft("RGB", tuple(job["draft"]))
            orientation = im.getexif().get(0x0112, 1)
            im = ImageOps.exif_transpose(im) if job.get("transpose", True) else im
            im = im.convert("RGB")
            with open(job["out"], "wb") as f:
                f.write(im.tobytes())
            results.append({"width": im.width, "height": im.height, "orientation": orientation})
        else:
            raise ValueError(job["op"])
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Seed inputs for the image fuzz targets: small generated images (tests/reference/pil_images.py
groups) plus two shared photos, or EXIF blocks for fuzz_exif.  image_seeds.py KIND OUT_DIR"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile



def exif_of(path):
    """The TIFF block of the first APP1 "Exif" segment of a JPEG (parsed here, not by Pillow,
    which refuses some of the broken ones we want as seeds)."""
    data = open(path, "rb").read()
    i = data.find(b"\xff\xe1")
    while i >= 0:
        n = int.from_bytes(data[i + 2:i + 4], "big")
        seg = data[i + 4:i + 2 + n]
        if seg.startswith(b"Exif\0\0"):
            return seg[6:]
        i = data.find(b"\xff\xe1", i + 2)
    return None

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
photos = os.path.join(repo, "..", "shared", "data", "photos")
kind, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
ext = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "exif": ".jpg"}[kind]
groups = {"jpeg": ["jpeg", "orientation", "sizes", "exif_malformed"], "png": ["png", "sizes", "png_metadata", "orientation"],
          "webp": ["webp", "sizes", "orientation"], "exif": ["orientation", "exif_malformed"]}[kind]
with tempfile.TemporaryDirectory() as tmp:
    for g in groups:
        subprocess.run([sys.executable, os.path.join(repo, "tests", "reference", "pil_images.py"),
                        "generate", os.path.join(tmp, g), g], check=True, stdout=subprocess.DEVNULL)
        for f in glob.glob(os.path.join(tmp, g, "*" + ext)):
            if kind == "exif":
                data = exif_of(f)
                if data:
                    open(os.path.join(out, g + "_" + os.path.basename(f) + ".exif"), "wb").write(data)
            else:
                shutil.copy(f, os.path.join(out, g + "_" + os.path.basename(f)))
shared = sorted(glob.glob(os.path.join(photos, "trash-bin", "*.jpg")))[:1] + \
    sorted(glob.glob(os.path.join(photos, "coco-*.jpeg")))[:1]
for p in shared:
    if kind == "jpeg" and "coco" in p:
        shutil.copy(p, os.path.join(out, os.path.basename(p)))
    if kind == "exif":
        data = exif_of(p)
        if data:
            open(os.path.join(out, os.path.basename(p) + ".exif"), "wb").write(data)
